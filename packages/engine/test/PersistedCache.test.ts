import { expect, layer } from "@effect/vitest"
import type { ActualRoom, RoomPlan } from "@openmeet-reconciler/core"
import { defaultPolicy } from "@openmeet-reconciler/core"
import type { StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers, makeStateCache } from "@openmeet-reconciler/matrix"
import { makeMetrics, telemetryLayer } from "@openmeet-reconciler/observability"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { addAttendee, addEvent, addUser, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import { faultyHomeserver, sqlLayer, synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Either, FastCheck as fc, Layer, Redacted, Schema } from "effect"
import { begin, staleBy } from "../src/ApplyAudit.ts"
import type { TenantRuntime } from "../src/index.ts"
import { Store, startController } from "../src/index.ts"
import { isPersistedRoom, PersistedRoom, persistRoom, restoreRoom } from "../src/PersistedRoom.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const schema = `reconciler_${uniqueTenantId("p")}`
const metrics = makeMetrics()
const Base = Layer.mergeAll(
  Layer.provideMerge(Layer.merge(DesiredState.layer, Store.layer(schema)), sqlLayer(services.databaseUrl)),
  telemetryLayer(metrics),
)
/** One leader's homeservers: each has a cache of its own, as a new process would. */
const homeservers = (cache: StateCache) =>
  Homeservers.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make(services.asToken) }, {}, cache)

const room: ActualRoom = {
  roomId: "!r:s",
  roomVersion: "11",
  creators: ["@bot:s"],
  members: new Map([
    ["@bot:s", { userId: "@bot:s", membership: "join", sender: "@bot:s" }],
    ["@u:s", { userId: "@u:s", membership: "invite", sender: "@bot:s" }],
  ]),
  powerLevels: { users: { "@bot:s": 100 }, events_default: 0 },
  name: "Room",
  joinRule: "invite",
  historyVisibility: "shared",
  guestAccess: undefined,
  canonicalAlias: "#event-r-t:s",
  altAliases: [],
  encrypted: false,
  successor: undefined,
}

const requests = () =>
  Effect.promise(() =>
    metrics.matrixRequests.get().then((m) => {
      const out: Record<string, number> = {}
      for (const v of m.values) out[String(v.labels.endpoint)] = (out[String(v.labels.endpoint)] ?? 0) + v.value
      return out
    }),
  )
const since = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([endpoint, n]) => [endpoint, n - (before[endpoint] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  )

layer(Base, { excludeTestServices: true })("persisted room states", (it) => {
  it("a persisted room reads back as it was; its check accepts exactly what its Schema accepts", () => {
    expect(Either.getOrThrow(restoreRoom("!r:s", JSON.parse(JSON.stringify(persistRoom(room)))))).toEqual(room)
    expect(Either.isLeft(restoreRoom("!r:s", { ...persistRoom(room), members: [["@u:s", "maybe", "@b:s"]] }))).toBe(
      true,
    )
    const isValid = Schema.is(PersistedRoom)
    const anything = fc.oneof(fc.string(), fc.constant(null), fc.boolean(), fc.integer(), fc.array(fc.string()))
    const member = fc.oneof(
      fc.tuple(fc.string(), fc.constantFrom("join", "invite", "leave", "ban", "knock", "maybe"), fc.string()),
      fc.array(anything, { maxLength: 4 }),
    )
    const persisted = fc.record(
      {
        roomVersion: fc.oneof(fc.string(), anything),
        creators: fc.oneof(fc.array(fc.string()), fc.array(anything)),
        members: fc.array(member, { maxLength: 3 }),
        powerLevels: fc.oneof(fc.dictionary(fc.string(), anything), fc.array(anything), anything),
        name: anything,
        joinRule: anything,
        historyVisibility: anything,
        guestAccess: anything,
        canonicalAlias: anything,
        altAliases: fc.oneof(fc.array(fc.string()), anything),
        encrypted: fc.oneof(fc.boolean(), anything),
        successor: anything,
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.oneof(persisted, anything), (value) => isPersistedRoom(value) === isValid(value)),
      { numRuns: 5000 },
    )
  })

  it.effect("a state is never written over an invalidation newer than its read, nor an older read over a newer", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.migrate
      const roomId = `!${uniqueTenantId("ord")}:s`
      const alias = `#event-${uniqueTenantId("ord")}-t:s`
      const state = (token: bigint, name: string) =>
        ({
          kind: "room",
          state: { roomId, bot: "@bot:s", room: { ...room, roomId, name }, at: Date.now() },
          token,
          maxAgeMs: 60_000,
        }) as const
      const free = (token: bigint) =>
        ({ kind: "alias", free: { alias, at: Date.now() }, token, maxAgeMs: 60_000 }) as const
      const names = Effect.map(store.loadStates, ({ states, freeAliases }) => [
        ...states.filter((p) => p.roomId === roomId).map((p) => p.room.name),
        ...freeAliases.filter((f) => f.alias === alias).map(() => "free"),
      ])
      const before = yield* store.stateToken
      yield* store.invalidateStates([roomId, roomId])
      // Read before the invalidation, written after it: stale, so not written.
      yield* store.saveStates([state(before, "stale")])
      expect(yield* names).toEqual([])
      const after = yield* store.stateToken
      yield* store.saveStates([state(after, "fresh")])
      expect(yield* names).toEqual(["fresh"])
      yield* store.saveStates([state(before, "older read")])
      expect(yield* names).toEqual(["fresh"])
      yield* store.invalidateStates([roomId])
      expect(yield* names).toEqual([])
      // A free alias is persisted the same way, keyed by the alias.
      const beforeAlias = yield* store.stateToken
      yield* store.invalidateStates([alias])
      yield* store.saveStates([free(beforeAlias)])
      expect(yield* names).toEqual([])
      yield* store.saveStates([free(yield* store.stateToken)])
      expect(yield* names).toEqual(["free"])
    }),
  )

  it.effect("an action written ahead makes its room's persisted state stale before its request is sent", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.migrate
      const roomId = `!${uniqueTenantId("ahead")}:s`
      const alias = `#event-${uniqueTenantId("ahead")}-t:s`
      const moved = `!${uniqueTenantId("from")}:s`
      const saved = (id: string, token: bigint) =>
        store.saveStates([
          {
            kind: "room",
            state: { roomId: id, bot: "@bot:s", room: { ...room, roomId: id }, at: Date.now() },
            token,
            maxAgeMs: 60_000,
          },
        ])
      const persisted = Effect.map(store.loadStates, ({ states, freeAliases }) => [
        ...states.filter((p) => [roomId, moved].includes(p.roomId)).map((p) => p.roomId),
        ...freeAliases.filter((f) => f.alias === alias).map((f) => f.alias),
      ])
      const plan = (id: string | undefined, actions: RoomPlan["actions"]): RoomPlan => ({
        key: { tenant: "t", kind: "event", entityId: "1" },
        alias,
        roomId: id,
        status: "drifted",
        actions,
        conditions: [],
        memberCount: 0,
        entitledCount: 0,
      })
      // The room as its leader last read it, and the alias it found free, are persisted.
      const read = yield* store.stateToken
      yield* saved(roomId, read)
      yield* saved(moved, read)
      yield* store.saveStates([{ kind: "alias", free: { alias, at: Date.now() }, token: read, maxAgeMs: 60_000 }])
      expect((yield* persisted).sort()).toEqual([alias, moved, roomId].sort())
      // An invite about to be sent: the leader may die once the homeserver applied it.
      const invite = { type: "invite", user: "@u2:s", reason: "confirmed attendee" } as const
      yield* begin(plan(roomId, [invite]), roomId, [invite])
      expect((yield* persisted).sort()).toEqual([alias, moved].sort())
      // A read that began before the write, kept by the cache and flushed after it, stays out.
      yield* saved(roomId, read)
      expect((yield* persisted).sort()).toEqual([alias, moved].sort())
      // A creation makes the alias it takes stale; moving an alias, the room it comes from too.
      const create = {
        type: "create_room",
        alias,
        name: "Room",
        joinRule: "invite",
        historyVisibility: "shared",
        guestAccess: "forbidden",
        users: {},
        reason: "event is published",
      } as const
      yield* begin(plan(undefined, [create]), undefined, [create])
      expect(yield* persisted).toEqual([moved])
      const add = { type: "add_alias", alias, from: moved, reason: "moved" } as const
      yield* begin(plan(roomId, [add]), roomId, [add])
      expect(yield* persisted).toEqual([])
      expect(staleBy(roomId, [invite, invite, add])).toEqual([roomId, alias, moved])
    }),
  )

  it.scoped(
    "a new leader starts warm: its first resync reads only the joined rooms, and rooms invalidated meanwhile",
    () =>
      Effect.gen(function* () {
        const runtime: TenantRuntime = {
          tenant: fixtureTenant(uniqueTenantId("warm"), s),
          policy: defaultPolicy,
          botUserId: services.botUserId,
        }
        yield* resetTenant(runtime.tenant)
        for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
        for (const id of [1, 2, 3]) {
          yield* addEvent(runtime.tenant, { id, slug: `warm${id}`, userId: 1 })
          yield* addAttendee(runtime.tenant, { eventId: id, userId: 2, status: "confirmed" })
        }
        // A draft has no room: its alias, found free, is persisted too.
        yield* addEvent(runtime.tenant, { id: 4, slug: "warmdraft", userId: 1, status: "draft" })
        yield* (yield* Store).migrate
        const options = (cache: StateCache) =>
          ({
            tenants: [runtime],
            concurrency: 4,
            workers: 1,
            batchSize: 10,
            resyncInterval: "1 hour",
            dryRun: false,
            backoff: { base: "1 second", max: "10 seconds" },
            cache,
            persistStates: true,
            shutdownGrace: "1 second",
            appserviceId: "openmeet-bot",
          }) as const
        // The first leader creates the rooms, and resyncs until its cache is settled and persisted.
        const first = makeStateCache({ maxAge: "1 hour" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const reconciled = Effect.promise(() =>
              metrics.reconcileTotal.get().then((m) => m.values.reduce((n, v) => n + v.value, 0)),
            )
            const before = yield* reconciled
            const controller = yield* startController(options(first))
            // The workers have made the three rooms (each reconciled once).
            for (let i = 0; i < 150 && (yield* reconciled) - before < 3; i++) yield* Effect.sleep("200 millis")
            for (let i = 0; i < 50; i++) {
              const before = yield* requests()
              yield* controller.fullSync
              const made = since(before, yield* requests())
              if (JSON.stringify(made) === JSON.stringify({ "GET /joined_rooms": 1 })) break
              yield* Effect.sleep("300 millis")
            }
            // What the cache kept is written every second.
            yield* Effect.sleep("1500 millis")
          }),
        ).pipe(Effect.provide(homeservers(first)))
        const rooms = yield* Effect.promise(() =>
          Promise.all([1, 2, 3].map((id) => synapse.resolveAlias(`#event-warm${id}-${runtime.tenant.id}:${s}`))),
        )
        expect(rooms.every((id) => id !== undefined)).toBe(true)
        // Between leaders, a standby accepted a transaction about room 2.
        yield* (yield* Store).invalidateStates([rooms[1] ?? ""])

        const second = makeStateCache({ maxAge: "1 hour" })
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => faultyHomeserver(services.homeserverUrl, () => false)),
          (p) => Effect.promise(() => p.close()),
        )
        const through = Homeservers.layer(
          { homeserverUrl: proxy.url, asToken: Redacted.make(services.asToken) },
          {},
          second,
        )
        // Its first resync (it runs one as it starts) reads of this tenant's rooms only the one
        // invalidated. (Other test files may make rooms meanwhile: those it reads too.)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const controller = yield* startController(options(second))
            while (!(yield* controller.firstSyncDone)) yield* Effect.sleep("50 millis")
          }),
        ).pipe(Effect.provide(through))
        const read = proxy
          .forwarded()
          .filter((r) => r.method === "GET" && rooms.some((id) => r.path.includes(`/rooms/${id}/state`)))
        expect(read.map((r) => r.path)).toEqual([`/_matrix/client/v3/rooms/${rooms[1]}/state`])
        expect(proxy.forwarded().filter((r) => r.path.endsWith("/joined_rooms"))).toHaveLength(1)
        expect(proxy.forwarded().filter((r) => r.path.includes("/directory/room/"))).toEqual([])
      }),
  )
})
