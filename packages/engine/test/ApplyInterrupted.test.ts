import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { defaultPolicy, pendingActions, Telemetry } from "@openmeet-reconciler/core"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { addAttendee, addEvent, addUser, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import { synapseClient, tcpProxy, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Exit, Fiber, FiberId, Redacted, Schema } from "effect"
import type { TenantRuntime } from "../src/index.ts"
import { applyPlan, planPass, reconcile, Store } from "../src/index.ts"
import { passServices, waitUntil } from "./services.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const schema = `reconciler_${uniqueTenantId("ai")}`
const options = { concurrency: 4 }

const AuditRow = Schema.Struct({ action: Schema.String, result: Schema.String, detail: Schema.Unknown })
const Invite = Schema.Struct({ user: Schema.String })

/** The users whose invite the audit log records as applied, in the order of the rows. */
const auditedInvites = (key: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`SELECT action, result, detail FROM ${sql(`${schema}.audit_log`)}
      WHERE key = ${key} ORDER BY id`
    const decoded = yield* Schema.decodeUnknown(Schema.Array(AuditRow))(rows)
    const users: Array<string> = []
    for (const row of decoded) {
      if (row.action === "invite" && row.result === "applied") {
        users.push((yield* Schema.decodeUnknown(Invite)(row.detail)).user)
      }
    }
    return users
  })

const newcomers = [3, 4, 5, 6, 7, 8]

/** A room made by a first pass (owner u1, attendee u2), then six new attendees (u3…u8) to invite. */
const convergedRoom = (prefix: string) =>
  Effect.gen(function* () {
    const runtime: TenantRuntime = {
      tenant: fixtureTenant(uniqueTenantId(prefix), s),
      policy: defaultPolicy,
      botUserId: services.botUserId,
    }
    const key = `event:${runtime.tenant.id}:1`
    const mx = (n: number) => `@${runtime.tenant.id}.u${n}:${s}`
    yield* resetTenant(runtime.tenant)
    for (const id of [1, 2, ...newcomers]) yield* addUser(runtime.tenant, { id })
    yield* addEvent(runtime.tenant, { id: 1, slug: "interrupted", userId: 1 })
    yield* addAttendee(runtime.tenant, { eventId: 1, userId: 2, status: "confirmed" })
    yield* (yield* Store).migrate
    yield* reconcile({ tenants: [runtime], rooms: [] }, options)
    const roomId = yield* Effect.promise(() => synapse.resolveAlias(`#event-interrupted-${runtime.tenant.id}:${s}`))
    if (roomId === undefined) throw new Error("the first pass made no room")
    for (const userId of newcomers) yield* addAttendee(runtime.tenant, { eventId: 1, userId, status: "confirmed" })
    return { runtime, key, mx, roomId, before: yield* auditedInvites(key) }
  })

/** The newcomers Synapse shows invited, and those the audit log has an applied invite for (after `before`). */
const invitedAndAudited = (roomId: string, key: string, mx: (n: number) => string, before: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const members = yield* Effect.promise(() => synapse.memberships(roomId))
    const invited = newcomers.map(mx).filter((user) => members[user] === "invite")
    const audited = (yield* auditedInvites(key)).slice(before.length)
    return { invited: [...invited].sort(), audited: [...audited].sort() }
  })

layer(passServices(services, schema), { excludeTestServices: true })("an interrupted apply", (it) => {
  it.scoped("every action Synapse shows applied has its audit row, written as it ran", () =>
    Effect.gen(function* () {
      const { runtime, key, mx, roomId, before } = yield* convergedRoom("int")
      const scope = { tenants: [runtime], rooms: [] }
      // Six invites, one request each; the homeserver stops answering after the third.
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => tcpProxy(new URL(services.homeserverUrl))),
        (p) => Effect.promise(() => p.close()),
      )
      yield* Effect.gen(function* () {
        const result = yield* planPass(scope, options)
        expect(result.plan.rooms.flatMap((room) => pendingActions(room).map((a) => a.type))).toEqual(
          newcomers.map(() => "invite"),
        )
        proxy.stallAfter("POST /_matrix/client/v3/rooms/", 3)
        const applying = yield* Effect.fork(applyPlan(result, options))
        yield* waitUntil(
          "the fourth invite to be held",
          Effect.sync(() => proxy.stalled().length === 1),
        )
        yield* Fiber.interrupt(applying)
      }).pipe(Effect.provide(Homeservers.layer({ homeserverUrl: proxy.url, asToken: Redacted.make(services.asToken) })))

      const { invited, audited } = yield* invitedAndAudited(roomId, key, mx, before)
      expect(invited).toHaveLength(3)
      expect(audited).toEqual(invited)

      // Nothing is lost: the next pass invites the others, each user once in the audit log.
      yield* reconcile(scope, options)
      const after = yield* Effect.promise(() => synapse.memberships(roomId))
      expect(newcomers.map((n) => after[mx(n)])).toEqual(newcomers.map(() => "invite"))
      const all = (yield* auditedInvites(key)).slice(before.length)
      expect([...all].sort()).toEqual(newcomers.map(mx).sort())
    }),
  )

  it.scoped("an interruption that arrives as Synapse answers still leaves the action's audit row", () =>
    Effect.gen(function* () {
      const { runtime, key, mx, roomId, before } = yield* convergedRoom("ans")
      const result = yield* planPass({ tenants: [runtime], rooms: [] }, options)
      // The lock is lost the moment the second invite's answer arrives: the fiber is told
      // to stop while it still has to write that invite's audit row.
      const telemetry = yield* Telemetry
      let applying: Fiber.RuntimeFiber<unknown, unknown> | undefined
      let answered = 0
      const interruptOnSecondAnswer: typeof telemetry = {
        ...telemetry,
        matrixRequest: (endpoint, code) => {
          if (endpoint === "POST /rooms/{roomId}/invite" && code === "200" && ++answered === 2) {
            applying?.unsafeInterruptAsFork(FiberId.none)
          }
        },
      }
      const fiber = yield* Effect.fork(
        applyPlan(result, options).pipe(Effect.provideService(Telemetry, interruptOnSecondAnswer)),
      )
      applying = fiber
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      // The row of the answered invite is written even so (in the background: stepping down
      // does not wait for the database).
      yield* waitUntil(
        "the second invite's audit row",
        Effect.map(invitedAndAudited(roomId, key, mx, before), ({ audited }) => audited.length === 2),
      )
      const { invited, audited } = yield* invitedAndAudited(roomId, key, mx, before)
      expect(invited).toHaveLength(2)
      expect(audited).toEqual(invited)
    }),
  )
})
