import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { defaultPolicy, formatRoomKey, roomKey } from "@openmeet-reconciler/core"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  setAttendee,
} from "@openmeet-reconciler/openmeet/testing"
import {
  faultyHomeserver,
  peakInFlight,
  sqlLayer,
  synapseClient,
  testServices,
  uniqueTenantId,
} from "@openmeet-reconciler/testing"
import { Effect, Layer, Redacted } from "effect"
import type { PlanResult, TenantRuntime } from "../src/index.ts"
import { applyPlan, planPass, reconcileAgain, Store } from "../src/index.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
// A schema of this run's own, so records from earlier runs never interfere.
const schema = `reconciler_${uniqueTenantId("t")}`
const Live = Layer.mergeAll(
  Layer.provideMerge(Layer.merge(DesiredState.layer, Store.layer(schema)), sqlLayer(services.databaseUrl)),
  Homeservers.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make(services.asToken) }),
)
const options = { concurrency: 4 }

const runtimeFor = (id: string): TenantRuntime => ({
  tenant: fixtureTenant(id, s),
  policy: defaultPolicy,
  botUserId: services.botUserId,
})

/** A tenant with one published event (id 1, slug `room`) and two confirmed attendees. */
const oneEventTenant = (prefix: string) =>
  Effect.gen(function* () {
    const runtime = runtimeFor(uniqueTenantId(prefix))
    yield* resetTenant(runtime.tenant)
    for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
    yield* addEvent(runtime.tenant, { id: 1, slug: "room" })
    for (const userId of [1, 2]) yield* addAttendee(runtime.tenant, { eventId: 1, userId, status: "confirmed" })
    return runtime
  })

layer(Live, { excludeTestServices: true })("reconcile passes", (it) => {
  it.effect("migrates its own schema idempotently", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.migrate
      yield* store.migrate
      const status = yield* store.status
      expect(status.rooms).toEqual([])
    }),
  )

  it.effect(
    "adopts a room that appeared with the alias between plan and apply: the key is planned again, no second room",
    () =>
      Effect.gen(function* () {
        const runtime = yield* oneEventTenant("adopt")
        const alias = `#event-room-${runtime.tenant.id}:${s}`
        const result = yield* planPass({ tenants: [runtime], rooms: [] }, options)
        expect(result.plan.rooms.map((r) => r.status)).toEqual(["missing"])
        // Someone else (OpenMeet's lazy creation, an earlier crashed run) creates it now.
        const body = yield* Effect.promise(() =>
          synapse.call("POST", "/_matrix/client/v3/createRoom", {
            room_alias_name: alias.slice(1, alias.indexOf(":")),
            name: "Made elsewhere",
          }),
        )
        // Applying the plan finds the alias taken: no recursion, the key is planned again from fresh state.
        const first = yield* applyPlan(result, options)
        expect(first.actions.map((a) => [a.action.type, a.outcome.result])).toEqual([
          ["create_room", "requeued"],
          ["invite", "requeued"],
          ["invite", "requeued"],
        ])
        expect(first.requeue).toEqual([result.plan.rooms[0]?.key])
        const { applied } = yield* reconcileAgain(result, options)
        const roomId = yield* Effect.promise(() => synapse.resolveAlias(alias))
        expect(body).toEqual({ room_id: roomId })
        const done = applied.actions.filter((a) => a.outcome.result === "applied")
        expect(done.map((a) => [a.roomId, a.action.type])).toEqual([
          [roomId, "set_name"],
          [roomId, "set_join_rule"],
          [roomId, "set_guest_access"],
          [roomId, "invite"],
          [roomId, "invite"],
        ])
        const again = yield* planPass({ tenants: [runtime], rooms: [] }, options)
        expect(again.plan.rooms.map((r) => [r.status, r.actions.length])).toEqual([["in_sync", 0]])
      }),
  )

  it.effect("a room that holds the alias but not the bot is blocked, never duplicated", () =>
    Effect.gen(function* () {
      const runtime = yield* oneEventTenant("foreign")
      const alias = `#event-room-${runtime.tenant.id}:${s}`
      const owner = yield* Effect.promise(() => synapse.register(`owner-${runtime.tenant.id}`))
      const created = yield* Effect.promise(() =>
        synapse.call(
          "POST",
          "/_matrix/client/v3/createRoom",
          { room_alias_name: alias.slice(1, alias.indexOf(":")), preset: "private_chat" },
          owner,
        ),
      )
      const result = yield* planPass({ tenants: [runtime], rooms: [] }, options)
      const room = result.plan.rooms[0]
      expect(room?.status).toBe("blocked")
      expect(created).toEqual({ room_id: room?.roomId })
      expect(room?.actions).toEqual([])
      expect(room?.conditions[0]?.message).toContain("the bot is not in room")
    }),
  )

  it.effect("a tenant whose desired state fails is reported, and nothing of it is planned", () =>
    Effect.gen(function* () {
      const good = yield* oneEventTenant("good")
      const missing = runtimeFor(uniqueTenantId("noschema"))
      const result = yield* planPass({ tenants: [good, missing], rooms: [] }, options)
      expect(result.failedTenants.map((f) => f.tenant)).toEqual([missing.tenant.id])
      expect(result.failedTenants[0]?.message).toContain("does not exist")
      expect(result.plan.rooms.map((r) => r.key.tenant)).toEqual([good.tenant.id])
    }),
  )

  it.effect("plans only the rooms asked for", () =>
    Effect.gen(function* () {
      const runtime = yield* oneEventTenant("scope")
      yield* addEvent(runtime.tenant, { id: 2, slug: "other" })
      const key = roomKey(runtime.tenant.id, "event", "2")
      const result = yield* planPass({ tenants: [runtime], rooms: [key] }, options)
      expect(result.plan.rooms.map((r) => formatRoomKey(r.key))).toEqual([formatRoomKey(key)])
    }),
  )

  it.effect(
    "a room whose read fails mid-pass (a homeserver restarting) is never taken for an orphan: no orphan, no kick",
    () =>
      Effect.gen(function* () {
        yield* (yield* Store).migrate
        const runtime = yield* oneEventTenant("flaky")
        const evict = { ...runtime, policy: { ...runtime.policy, orphanPolicy: "evict" as const } }
        yield* addEvent(runtime.tenant, { id: 2, slug: "second" })
        yield* addAttendee(runtime.tenant, { eventId: 2, userId: 1, status: "confirmed" })
        yield* applyPlan(yield* planPass({ tenants: [evict], rooms: [] }, options), options)
        const roomId = yield* Effect.promise(() => synapse.resolveAlias(`#event-room-${runtime.tenant.id}:${s}`))
        if (roomId === undefined) throw new Error("no room")
        // The homeserver fails that room's state read for all of a read's five attempts, as
        // during a restart; the orphan search's read a moment later would succeed.
        let failures = 0
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() =>
            faultyHomeserver(
              services.homeserverUrl,
              (method, path) => method === "GET" && path.includes(`/rooms/${roomId}/state`) && failures++ < 5,
            ),
          ),
          (p) => Effect.promise(() => p.close()),
        )
        const flaky = Homeservers.layer({ homeserverUrl: proxy.url, asToken: Redacted.make(services.asToken) })
        const result = yield* planPass({ tenants: [evict], rooms: [] }, options).pipe(Effect.provide(flaky))
        expect(proxy.failed()).toHaveLength(5)
        const byKey = new Map(result.plan.rooms.map((r) => [formatRoomKey(r.key), r]))
        expect(byKey.get(`event:${runtime.tenant.id}:1`)?.status).toBe("error")
        expect(result.plan.rooms.filter((r) => r.key.kind === "orphan")).toEqual([])
        expect(result.plan.rooms.flatMap((r) => r.actions.filter((a) => a.type === "kick"))).toEqual([])
      }).pipe(Effect.scoped),
  )

  it.effect("a first plan looks its missing aliases up together, each once, wider than room reads", () =>
    Effect.gen(function* () {
      const runtime = runtimeFor(uniqueTenantId("wide"))
      yield* resetTenant(runtime.tenant)
      yield* addUser(runtime.tenant, { id: 1 })
      for (let id = 1; id <= 12; id++) yield* addEvent(runtime.tenant, { id, slug: `wide${id}`, userId: 1 })
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => faultyHomeserver(services.homeserverUrl, () => false)),
        (p) => Effect.promise(() => p.close()),
      )
      const through = Homeservers.layer({ homeserverUrl: proxy.url, asToken: Redacted.make(services.asToken) })
      const result = yield* planPass({ tenants: [runtime], rooms: [] }, { concurrency: 2 }).pipe(
        Effect.provide(through),
      )
      expect(result.plan.rooms.map((r) => r.status)).toEqual(Array.from({ length: 12 }, () => "missing"))
      const lookups = proxy
        .forwarded()
        .filter((r) => r.path.startsWith("/_matrix/client/v3/directory/room/#event-wide"))
      expect(lookups.map((r) => r.path).sort()).toEqual(
        Array.from(
          { length: 12 },
          (_, i) => `/_matrix/client/v3/directory/room/#event-wide${i + 1}-${runtime.tenant.id}:${s}`,
        ).sort(),
      )
      // Nobody answers the homeserver's query to the appservice here, so each lookup waits:
      // run two at a time (the rooms' concurrency), they could never overlap this much.
      expect(peakInFlight(lookups)).toBeGreaterThanOrEqual(6)
    }).pipe(Effect.scoped),
  )

  it.effect(
    "a batch or --room pass judges 'the tenant looks empty' on the whole tenant: the last person out of one room is kicked",
    () =>
      Effect.gen(function* () {
        yield* (yield* Store).migrate
        const base = yield* oneEventTenant("lastout")
        // Users without any row would be visitors of a public room, kept whatever happens.
        const runtime = { ...base, policy: { ...base.policy, publicRoomVisitors: "remove" as const } }
        yield* addEvent(runtime.tenant, { id: 2, slug: "busy" })
        yield* addAttendee(runtime.tenant, { eventId: 2, userId: 1, status: "confirmed" })
        yield* applyPlan(yield* planPass({ tenants: [runtime], rooms: [] }, options), options)
        // Event 1 loses everyone entitled (owner none, both attendees rejected); event 2 keeps one.
        for (const userId of [1, 2]) yield* setAttendee(runtime.tenant, { eventId: 1, userId, status: "rejected" })
        const one = [roomKey(runtime.tenant.id, "event", "1")]
        const kicks = (result: PlanResult) =>
          result.plan.rooms.flatMap((r) => r.actions.filter((a) => a.type === "kick").map((a) => a.held === true))
        expect(kicks(yield* planPass({ tenants: [runtime], rooms: one }, options))).toEqual([false, false])
        // A truncated table empties the whole tenant: then every kick is held, however narrow the pass.
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`DELETE FROM "${runtime.tenant.schema}"."eventAttendees"`)
        expect(kicks(yield* planPass({ tenants: [runtime], rooms: one }, options))).toEqual([true, true])
      }),
  )

  it.effect("the tenant's verdicts hold whichever batch the room that decides them is built in", () =>
    Effect.gen(function* () {
      // Three rooms: only the last has a member with a handle; a user without one waits in the first.
      const runtime = runtimeFor(uniqueTenantId("batch"))
      yield* resetTenant(runtime.tenant)
      yield* addUser(runtime.tenant, { id: 1, handle: null })
      yield* addUser(runtime.tenant, { id: 2 })
      for (const id of [1, 2, 3]) yield* addEvent(runtime.tenant, { id, slug: `batch${id}`, userId: 1 })
      yield* addAttendee(runtime.tenant, { eventId: 3, userId: 2, status: "confirmed" })
      const verdicts = (result: PlanResult) => ({
        empty: [...result.emptyTenants],
        pending: [...result.pendingHandles],
        rooms: result.plan.rooms.map((room) => [formatRoomKey(room.key), room.status, room.actions.length]),
      })
      const scope = { tenants: [runtime], rooms: [] }
      const whole = verdicts(yield* planPass(scope, options))
      expect(whole.empty).toEqual([])
      expect(whole.pending).toEqual([[runtime.tenant.id, 1]])
      for (const batchSize of [1, 2]) expect(verdicts(yield* planPass(scope, { ...options, batchSize }))).toEqual(whole)
      // Nobody entitled anywhere: empty, in one batch or three.
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe(`DELETE FROM "${runtime.tenant.schema}"."eventAttendees"`),
      )
      for (const batchSize of [1, 500]) {
        expect((yield* planPass(scope, { ...options, batchSize })).emptyTenants).toEqual(new Set([runtime.tenant.id]))
      }
    }),
  )
})
