import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { defaultPolicy, roomKey } from "@openmeet-reconciler/core"
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
import { Effect } from "effect"
import type { TenantRuntime } from "../src/index.ts"
import { Store, startController } from "../src/index.ts"
import { actionsCounted, controllerOptions, controllerServices, waitUntil } from "./services.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const schema = `reconciler_${uniqueTenantId("wb")}`
const metrics = makeMetrics()
const cache = makeStateCache({ maxAge: "1 hour" })
const actions = (type: string, result: string) => actionsCounted(metrics, type, result)

const rooms = 12
const cap = 3

layer(controllerServices(services, schema, cache, metrics), { excludeTestServices: true })(
  "the destructive budget across workers",
  (it) => {
    it.scoped(
      `4 workers with batches of one room spend no more than maxDestructivePerPass (${cap}) of ${rooms} kicks in a window`,
      () =>
        Effect.gen(function* () {
          const runtime: TenantRuntime = {
            tenant: fixtureTenant(uniqueTenantId("wbk"), s),
            policy: {
              ...defaultPolicy,
              limits: { ...defaultPolicy.limits, maxDestructivePerPass: cap, maxDestructiveRoomFraction: 1 },
            },
            botUserId: services.botUserId,
          }
          const events = Array.from({ length: rooms }, (_, i) => i + 1)
          yield* resetTenant(runtime.tenant)
          for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
          for (const id of events) {
            yield* addEvent(runtime.tenant, { id, slug: `budget${id}`, userId: 1 })
            yield* addAttendee(runtime.tenant, { eventId: id, userId: 2, status: "confirmed" })
          }
          yield* (yield* Store).migrate
          const created = yield* actions("create_room", "applied")
          const controller = yield* startController({
            ...controllerOptions(runtime, cache),
            workers: 4,
            batchSize: 1,
            // One window for the whole test: nothing spent in it comes back.
            resyncInterval: "1 hour",
          })
          yield* waitUntil(
            "every room",
            Effect.map(actions("create_room", "applied"), (n) => n - created >= rooms),
          )
          const roomIds = yield* Effect.forEach(events, (id) =>
            Effect.promise(() => synapse.resolveAlias(`#event-budget${id}-${runtime.tenant.id}:${s}`)),
          )
          const attendee = `@${runtime.tenant.id}.u2:${s}`
          const memberships = Effect.forEach(roomIds, (roomId) =>
            Effect.promise(async () =>
              roomId === undefined ? undefined : (await synapse.memberships(roomId))[attendee],
            ),
          )
          expect(yield* memberships).toEqual(events.map(() => "invite"))

          // Every attendee is rejected at once; the four workers take the rooms one by one, together.
          const kicked = yield* actions("kick", "applied")
          const held = yield* actions("kick", "held")
          for (const eventId of events) yield* setAttendee(runtime.tenant, { eventId, userId: 2, status: "rejected" })
          yield* controller.enqueue(
            events.map((id) => roomKey(runtime.tenant.id, "event", String(id))),
            "change",
          )
          yield* waitUntil(
            "a decision on every room's kick",
            Effect.map(
              Effect.all([actions("kick", "applied"), actions("kick", "held")]),
              ([k, h]) => k - kicked + (h - held) >= rooms,
            ),
          )
          const after = yield* memberships
          expect(after.filter((m) => m === "leave")).toHaveLength(cap)
          expect(after.filter((m) => m === "invite")).toHaveLength(rooms - cap)
          expect((yield* actions("kick", "applied")) - kicked).toBe(cap)
          const sql = yield* SqlClient.SqlClient
          const audit = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(`${schema}.audit_log`)}
          WHERE action = 'kick' AND result = 'applied' AND key LIKE ${`event:${runtime.tenant.id}:%`}`
          expect(audit).toEqual([{ n: cap }])
        }),
      { timeout: 120_000 },
    )
  },
)
