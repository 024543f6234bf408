import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { defaultPolicy, publicKickReason } from "@openmeet-reconciler/core"
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
import { reconcile, Store } from "../src/index.ts"
import { passServices } from "./services.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const schema = `reconciler_${uniqueTenantId("kr")}`
layer(passServices(services, schema), { excludeTestServices: true })("kick reasons", (it) => {
  it.effect("room members read a neutral reason; the audit log keeps the rule that decided", () =>
    Effect.gen(function* () {
      const runtime: TenantRuntime = {
        tenant: fixtureTenant(uniqueTenantId("kick"), s),
        policy: defaultPolicy,
        botUserId: services.botUserId,
      }
      const attendee = `@${runtime.tenant.id}.u2:${s}`
      yield* resetTenant(runtime.tenant)
      for (const id of [1, 2]) yield* addUser(runtime.tenant, { id })
      yield* addEvent(runtime.tenant, { id: 1, slug: "reasons", userId: 1 })
      yield* addAttendee(runtime.tenant, { eventId: 1, userId: 2, status: "confirmed" })
      yield* (yield* Store).migrate
      const scope = { tenants: [runtime], rooms: [] }
      yield* reconcile(scope, { concurrency: 2 })
      const roomId = yield* Effect.promise(() => synapse.resolveAlias(`#event-reasons-${runtime.tenant.id}:${s}`))
      if (roomId === undefined) throw new Error("the first pass made no room")
      // The attendee accepts the invite: a kick of a member is what everyone in the room sees.
      yield* Effect.promise(() => synapse.register(`${runtime.tenant.id}.u2`))
      yield* Effect.promise(() => synapse.joinAs(attendee, roomId))

      yield* setAttendee(runtime.tenant, { eventId: 1, userId: 2, status: "rejected" })
      const { applied } = yield* reconcile(scope, { concurrency: 2 })
      expect(applied.actions.map((a) => [a.action.type, a.outcome.result])).toEqual([["kick", "applied"]])

      const member = (yield* Effect.promise(() => synapse.state(roomId))).find(
        (event) => event.type === "m.room.member" && event.state_key === attendee,
      )
      expect(member?.content).toMatchObject({ membership: "leave", reason: publicKickReason })
      expect(member?.sender).toBe(services.botUserId)
      expect(JSON.stringify(member?.content)).not.toContain("rejected")

      const sql = yield* SqlClient.SqlClient
      const audit = yield* sql<{ reason: string | null; detail: unknown }>`
        SELECT reason, detail FROM ${sql(`${schema}.audit_log`)}
        WHERE key = ${`event:${runtime.tenant.id}:1`} AND action = 'kick'`
      expect(audit).toEqual([
        {
          reason: "attendee status rejected is not entitled",
          detail: { type: "kick", user: attendee, reason: "attendee status rejected is not entitled" },
        },
      ])
    }),
  )
})
