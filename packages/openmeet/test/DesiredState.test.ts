import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import type { DesiredOutcome } from "@openmeet-reconciler/core"
import { defaultPolicy, formatRoomKey } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  seedTenant,
} from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Layer, Tracer } from "effect"
import { DesiredState } from "../src/index.ts"

const services = testServices()
const Sql = sqlLayer(services.databaseUrl)
const Live = Layer.provideMerge(DesiredState.layer, Sql)

const server = "openmeet.test"
const desiredOf = (rooms: ReadonlyArray<DesiredOutcome>, id: string) =>
  rooms.find((r) => (r._tag === "Desired" ? r.room.key.entityId : r.key.entityId) === id)

/** Runs `effect` and returns the names of the spans it opened (one per desired-state query). */
const spanNames = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const base = yield* Effect.tracer
    const names: Array<string> = []
    const tracer = Tracer.make({
      span: (name, ...rest) => {
        names.push(name)
        return base.span(name, ...rest)
      },
      context: base.context,
    })
    const value = yield* effect.pipe(Effect.withTracer(tracer))
    return { value, names }
  })

layer(Live)("DesiredState against PostgreSQL", (it) => {
  it.effect("computes event rooms from OpenMeet's tables, joining roles by name", () =>
    Effect.gen(function* () {
      const tenant = fixtureTenant(uniqueTenantId("ds"), server)
      yield* resetTenant(tenant, 31)
      for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
      yield* addUser(tenant, { id: 5, handle: null })
      yield* addUser(tenant, { id: 6, statusId: 2 })
      yield* addEvent(tenant, { id: 10, slug: "party", userId: 1, visibility: "private" })
      yield* addAttendee(tenant, { eventId: 10, userId: 2, status: "confirmed", role: "moderator" })
      yield* addAttendee(tenant, { eventId: 10, userId: 3, status: "rejected" })
      yield* addAttendee(tenant, { eventId: 10, userId: 4, status: "waitlist", role: "host" })
      yield* addAttendee(tenant, { eventId: 10, userId: 5, status: "confirmed" })
      yield* addAttendee(tenant, { eventId: 10, userId: 6, status: "confirmed" })
      yield* addEvent(tenant, { id: 11, slug: "draft-one", status: "draft" })

      const desired = yield* (yield* DesiredState).forTenant(tenant, defaultPolicy)
      const mx = (n: number) => `@${tenant.id}.u${n}:${server}`
      const party = desiredOf(desired.rooms, "10")
      expect(party?._tag).toBe("Desired")
      if (party?._tag !== "Desired") return
      expect(party.room.alias).toBe(`#event-party-${tenant.id}:${server}`)
      expect(party.room.joinRule).toBe("invite")
      expect(Object.fromEntries([...party.room.members.values()].map((m) => [m.userId, [m.level, m.reason]]))).toEqual({
        [mx(1)]: [99, "event owner"],
        [mx(2)]: [50, "attendee status confirmed, role moderator"],
        [mx(4)]: [99, "role host"],
      })
      expect(party.room.excluded.get(mx(3))).toBe("attendee status rejected is not entitled")
      expect(party.room.excluded.get(mx(6))).toBe("user is not active in OpenMeet")
      expect(desired.pendingHandles).toBe(1)
      const draft = desiredOf(desired.rooms, "11")
      expect(draft?._tag === "Desired" && draft.room.mayCreate).toBe(false)
    }),
  )

  it.effect("reads a tenant with a fixed number of queries, whatever its size", () =>
    Effect.gen(function* () {
      const state = yield* DesiredState
      const counts: Array<number> = []
      for (const events of [5, 60]) {
        const tenant = fixtureTenant(uniqueTenantId("qc"), server)
        yield* seedTenant({ tenant, seed: 7, events })
        const { value: desired, names } = yield* spanNames(state.forTenant(tenant, defaultPolicy))
        const kinds = desired.rooms.map((r) => (r._tag === "Desired" ? r.room.key.kind : r.key.kind))
        expect(kinds.filter((kind) => kind === "event").length).toBe(events)
        expect(kinds.filter((kind) => kind === "group").length).toBe(Math.floor(events / 5))
        counts.push(names.filter((name) => name.startsWith("DesiredState.query")).length)
      }
      expect(counts).toEqual([5, 5])
    }),
  )

  it.effect("reads only the rooms asked for", () =>
    Effect.gen(function* () {
      const tenant = fixtureTenant(uniqueTenantId("flt"), server)
      yield* seedTenant({ tenant, seed: 3, events: 20 })
      const desired = yield* (yield* DesiredState).forTenant(tenant, defaultPolicy, {
        eventIds: ["4", "9"],
        groupIds: [],
      })
      expect(desired.rooms.map((r) => formatRoomKey(r._tag === "Desired" ? r.room.key : r.key))).toEqual([
        `event:${tenant.id}:4`,
        `event:${tenant.id}:9`,
      ])
    }),
  )

  it.effect("a value OpenMeet added after us fails only the rooms that have it", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const tenant = fixtureTenant(uniqueTenantId("bad"), server)
      yield* resetTenant(tenant)
      yield* sql.unsafe(`ALTER TYPE "${tenant.schema}"."eventAttendees_status_enum" ADD VALUE 'checked_in'`)
      yield* sql.unsafe(`INSERT INTO "${tenant.schema}"."eventRoles" (id, name) VALUES (99, 'vip')`)
      for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "fine" })
      yield* addEvent(tenant, { id: 2, slug: "new-status" })
      yield* addEvent(tenant, { id: 3, slug: "new-role" })
      yield* addEvent(tenant, { id: 4, slug: "has space" })
      yield* addAttendee(tenant, { eventId: 1, userId: 1, status: "confirmed" })
      yield* addAttendee(tenant, { eventId: 2, userId: 2, status: "checked_in" })
      yield* addAttendee(tenant, { eventId: 3, userId: 3, status: "confirmed", role: "vip" })
      const desired = yield* (yield* DesiredState).forTenant(tenant, defaultPolicy)
      const messages = (id: string) => {
        const room = desiredOf(desired.rooms, id)
        return room?._tag === "Failed" ? room.problems.map((p) => `${p.tenant}/${p.table}/${p.message}`) : []
      }
      expect(desiredOf(desired.rooms, "1")?._tag).toBe("Desired")
      expect(messages("2")).toEqual([`${tenant.id}/eventAttendees/unknown status "checked_in"`])
      expect(messages("3")).toEqual([`${tenant.id}/eventAttendees/unknown role "vip"`])
      expect(messages("4")).toEqual([
        `${tenant.id}/events/alias "#event-has space-${tenant.id}:${server}" contains white space`,
      ])
    }),
  )

  it.effect("two events with one slug (no unique index in this copy) both fail; the rest is planned", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const tenant = fixtureTenant(uniqueTenantId("dup"), server)
      yield* resetTenant(tenant)
      yield* sql.unsafe(`ALTER TABLE "${tenant.schema}".events DROP CONSTRAINT events_slug_key`)
      yield* addEvent(tenant, { id: 1, slug: "twin" })
      yield* addEvent(tenant, { id: 2, slug: "twin" })
      yield* addEvent(tenant, { id: 3, slug: "single" })
      const desired = yield* (yield* DesiredState).forTenant(tenant, defaultPolicy)
      const failed = (id: string) => {
        const room = desiredOf(desired.rooms, id)
        return room?._tag === "Failed" ? room.problems.map((p) => p.message) : []
      }
      expect(failed("1")).toEqual(['slug "twin" is also used by events id 2'])
      expect(failed("2")).toEqual(['slug "twin" is also used by events id 1'])
      expect(desiredOf(desired.rooms, "3")?._tag).toBe("Desired")
    }),
  )

  it.effect("a tenant whose schema is missing fails as a whole, naming the tenant and the query", () =>
    Effect.gen(function* () {
      const tenant = fixtureTenant(uniqueTenantId("missing"), server)
      const error = yield* (yield* DesiredState).forTenant(tenant, defaultPolicy).pipe(Effect.flip)
      expect(error._tag).toBe("DesiredStateError")
      expect(error.tenant).toBe(tenant.id)
      expect(error.message).toContain("does not exist")
    }),
  )
})
