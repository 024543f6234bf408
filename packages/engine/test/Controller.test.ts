import { NodeSdk } from "@effect/opentelemetry"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { defaultPolicy } from "@openmeet-reconciler/core"
import { makeStateCache } from "@openmeet-reconciler/matrix"
import { makeMetrics } from "@openmeet-reconciler/observability"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  setAttendee,
} from "@openmeet-reconciler/openmeet/testing"
import { synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import type { TenantRuntime } from "../src/index.ts"
import { planPass, Store, startController } from "../src/index.ts"
import { controllerOptions as baseControllerOptions, controllerServices, waitUntil } from "./services.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const schema = `reconciler_${uniqueTenantId("c")}`
const exporter = new InMemorySpanExporter()
const metrics = makeMetrics()
const cache = makeStateCache({ maxAge: "1 hour" })
const Live = Layer.merge(
  controllerServices(services, schema, cache, metrics),
  NodeSdk.layer(() => ({
    resource: { serviceName: "reconciler-test" },
    spanProcessor: new SimpleSpanProcessor(exporter),
  })),
)

const controllerOptions = (runtime: TenantRuntime) => baseControllerOptions(runtime, cache)

/** The span's ancestors, nearest first, by name. */
const ancestors = (span: ReadableSpan, all: ReadonlyArray<ReadableSpan>): Array<string> => {
  const names: Array<string> = []
  let parentId = span.parentSpanContext?.spanId
  while (parentId !== undefined) {
    const parent = all.find((candidate) => candidate.spanContext().spanId === parentId)
    if (parent === undefined) break
    names.push(parent.name)
    parentId = parent.parentSpanContext?.spanId
  }
  return names
}

layer(Live, { excludeTestServices: true })("the controller", (it) => {
  it.scoped(
    "one queued reconcile is one trace: cycle → room → Matrix requests, with the documented attributes; its audit rows carry the trace id",
    () =>
      Effect.gen(function* () {
        const runtime: TenantRuntime = {
          tenant: fixtureTenant(uniqueTenantId("span"), s),
          policy: defaultPolicy,
          botUserId: services.botUserId,
        }
        yield* resetTenant(runtime.tenant)
        for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
        yield* addEvent(runtime.tenant, { id: 1, slug: "traced", userId: 1 })
        yield* addAttendee(runtime.tenant, { eventId: 1, userId: 2, status: "confirmed" })
        const store = yield* Store
        yield* store.migrate
        const planned = yield* planPass({ tenants: [runtime], rooms: [] }, { concurrency: 4 })
        const pending = planned.plan.rooms.flatMap((room) => room.actions.map((a) => a.type))
        expect(pending).toEqual(["create_room", "invite", "invite"])

        exporter.reset()
        yield* startController(controllerOptions(runtime))
        const key = `event:${runtime.tenant.id}:1`
        // The whole trace has ended once its root, the queue's cycle, has (children end first).
        yield* waitUntil(
          "the room's reconcile to end",
          Effect.sync(() => {
            const finished = exporter.getFinishedSpans()
            const rooms = new Set(
              finished.filter((s) => s.name === "reconcile.room").map((s) => s.spanContext().traceId),
            )
            return finished.some((s) => s.name === "reconcile.cycle" && rooms.has(s.spanContext().traceId))
          }),
        )
        const spans = exporter.getFinishedSpans()
        const room = spans.find((span) => span.name === "reconcile.room")
        if (room === undefined) throw new Error("no reconcile.room span")
        expect(room.attributes).toEqual({ "room.key": key, tenant: runtime.tenant.id, kind: "event", actions: 3 })
        expect(ancestors(room, spans)).toEqual(["reconcile.apply", "reconcile.cycle"])
        const cycle = spans.find((span) => span.spanContext().spanId === room.parentSpanContext?.spanId)
        const root = spans.find(
          (span) => span.name === "reconcile.cycle" && span.spanContext().traceId === room.spanContext().traceId,
        )
        expect(cycle?.name).toBe("reconcile.apply")
        expect(root?.attributes).toMatchObject({ trigger: "queue", "reconcile.keys": 1 })
        // The room's Matrix requests are its children: one createRoom with the invites in it.
        const requests = spans.filter(
          (span) => span.parentSpanContext?.spanId === room.spanContext().spanId && span.name === "matrix.request",
        )
        expect(requests.map((span) => span.attributes).filter((a) => a["matrix.endpoint"] !== "/capabilities")).toEqual(
          [{ "http.method": "POST", "matrix.endpoint": "/createRoom", "http.status_code": 200 }],
        )
        // The desired-state queries of the same cycle, under its plan; a batch also asks
        // whether the tenant as a whole entitles anyone (policy.md §5, suspect-empty).
        const queries = spans.filter(
          (span) =>
            span.name.startsWith("DesiredState.query ") && span.spanContext().traceId === room.spanContext().traceId,
        )
        expect(queries.map((span) => span.attributes.query).sort()).toEqual([
          "entitled",
          "eventAttendees",
          "events",
          "groupMembers",
          "groups",
          "users",
        ])
        const sql = yield* SqlClient.SqlClient
        const audit = yield* sql<{ action: string; traceId: string | null }>`
          SELECT action, trace_id AS "traceId" FROM ${sql(`${schema}.audit_log`)} WHERE key = ${key} ORDER BY id`
        expect(audit).toEqual(
          ["create_room", "invite", "invite"].map((action) => ({ action, traceId: room.spanContext().traceId })),
        )
        expect(
          yield* Effect.promise(() => synapse.resolveAlias(`#event-traced-${runtime.tenant.id}:${s}`)),
        ).toBeDefined()
        const applied = yield* Effect.promise(() => metrics.actionsTotal.get())
        const byType = Object.fromEntries(
          applied.values
            .filter((v) => v.labels.result === "applied" && v.value > 0)
            .map((v) => [v.labels.type, v.value]),
        )
        expect(byType).toEqual({ create_room: 1, invite: 2 })
      }),
  )

  it.scoped("a converged resync reads nothing from Matrix but the joined rooms, and writes nothing", () =>
    Effect.gen(function* () {
      const runtime: TenantRuntime = {
        tenant: fixtureTenant(uniqueTenantId("conv"), s),
        policy: defaultPolicy,
        botUserId: services.botUserId,
      }
      yield* resetTenant(runtime.tenant)
      for (const id of [1, 2, 3]) yield* addUser(runtime.tenant, { id })
      for (const id of [1, 2, 3, 4]) {
        yield* addEvent(runtime.tenant, { id, slug: `conv${id}`, userId: 1 })
        yield* addAttendee(runtime.tenant, { eventId: id, userId: 2, status: "confirmed" })
      }
      // A draft has no room: its free alias is remembered, not asked for at every resync.
      yield* addEvent(runtime.tenant, { id: 5, slug: "conv-draft", userId: 1, status: "draft" })
      yield* (yield* Store).migrate
      const controller = yield* startController(controllerOptions(runtime))
      const created = () =>
        metrics.actionsTotal
          .get()
          .then((m) =>
            m.values
              .filter((v) => v.labels.type === "create_room" && v.labels.result === "applied")
              .reduce((n, v) => n + v.value, 0),
          )
      const before = yield* Effect.promise(created)
      yield* waitUntil(
        "the four rooms",
        Effect.promise(async () => (await created()) - before >= 4),
      )
      const count = () =>
        metrics.matrixRequests.get().then((m) => {
          const out: Record<string, number> = {}
          for (const v of m.values) out[String(v.labels.endpoint)] = (out[String(v.labels.endpoint)] ?? 0) + v.value
          return out
        })
      // One resync's requests. The first ones may still read rooms whose read raced with
      // their creation (such reads are not cached) or that other tests left changing; once
      // settled, a resync is one joined-rooms read. A broken cache never settles.
      const deltas: Array<string> = []
      for (let i = 0; i < 5 && deltas.at(-1) !== JSON.stringify({ "GET /joined_rooms": 1 }); i++) {
        const start = yield* Effect.promise(count)
        yield* controller.fullSync
        const end = yield* Effect.promise(count)
        deltas.push(
          JSON.stringify(
            Object.fromEntries(
              Object.entries(end)
                .map(([endpoint, n]) => [endpoint, n - (start[endpoint] ?? 0)] as const)
                .filter(([, n]) => n > 0),
            ),
          ),
        )
      }
      expect(deltas.at(-1), deltas.join(" then ")).toBe(JSON.stringify({ "GET /joined_rooms": 1 }))
    }),
  )

  it.scoped("the per-pass cap on kicks holds across batches until the next resync window", () =>
    Effect.gen(function* () {
      const runtime: TenantRuntime = {
        tenant: fixtureTenant(uniqueTenantId("cap"), s),
        policy: {
          ...defaultPolicy,
          limits: { ...defaultPolicy.limits, maxDestructivePerPass: 1, maxDestructiveRoomFraction: 1 },
        },
        botUserId: services.botUserId,
      }
      yield* resetTenant(runtime.tenant)
      for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
      for (const id of [1, 2]) {
        yield* addEvent(runtime.tenant, { id, slug: `cap${id}`, userId: 1 })
        yield* addAttendee(runtime.tenant, { eventId: id, userId: 2, status: "confirmed" })
      }
      yield* (yield* Store).migrate
      // The budget's window is the resync interval, from the first unit spent.
      const controller = yield* startController({ ...controllerOptions(runtime), resyncInterval: "4 seconds" })
      const applied = (type: string, result = "applied") =>
        Effect.promise(() =>
          metrics.actionsTotal
            .get()
            .then((m) =>
              m.values
                .filter((v) => v.labels.type === type && v.labels.result === result)
                .reduce((n, v) => n + v.value, 0),
            ),
        )
      const created = yield* applied("create_room")
      const kicks = yield* applied("kick")
      yield* waitUntil(
        "both rooms",
        Effect.map(applied("create_room"), (n) => n - created >= 2),
      )
      // Both attendees are rejected now; the rooms are queued one at a time (two batches).
      for (const eventId of [1, 2]) yield* setAttendee(runtime.tenant, { eventId, userId: 2, status: "rejected" })
      const reconciled = Effect.promise(() =>
        metrics.reconcileTotal.get().then((m) => m.values.reduce((n, v) => n + v.value, 0)),
      )
      for (const id of ["1", "2"]) {
        const before = yield* reconciled
        yield* controller.enqueue([{ tenant: runtime.tenant.id, kind: "event", entityId: id }], "change")
        yield* waitUntil(
          `event ${id} reconciled`,
          Effect.map(reconciled, (n) => n > before),
        )
      }
      expect((yield* applied("kick")) - kicks).toBe(1)
      expect(yield* Effect.promise(() => metrics.destructiveActionsHeld.get().then((g) => g.values[0]?.value))).toBe(1)
      // A new window, and the resync that comes with it: the held kick goes through.
      yield* waitUntil(
        "the second kick",
        Effect.map(applied("kick"), (n) => n - kicks === 2),
      )
    }),
  )
})
