import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { formatRoomKey } from "@openmeet-reconciler/core"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Deferred, Effect, Either, Option, Queue, Redacted } from "effect"
import type { Change } from "../src/index.ts"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  decodeChange,
  fixtureTenant,
  initialWatermark,
  installTriggers,
  keysForChanges,
  listenChanges,
  pollChanges,
  resetTenant,
  setGroupMemberRole,
  triggersInstalled,
  uninstallTriggers,
} from "../src/index.ts"

const services = testServices()
const server = "openmeet.test"

/** A tenant with events 1 (owner u1, u2 attending) and 2 (u3 attending), group 1 (u2 member). */
const seeded = (prefix: string) =>
  Effect.gen(function* () {
    const tenant = fixtureTenant(uniqueTenantId(prefix), server)
    yield* resetTenant(tenant, 40)
    for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
    yield* addEvent(tenant, { id: 1, slug: "one", userId: 1 })
    yield* addEvent(tenant, { id: 2, slug: "two", userId: 3 })
    yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
    yield* addAttendee(tenant, { eventId: 2, userId: 3, status: "confirmed" })
    yield* addGroup(tenant, { id: 1, slug: "g" })
    yield* addGroupMember(tenant, { groupId: 1, userId: 2, role: "member" })
    return tenant
  })

const keysOf = (keys: ReadonlyArray<Parameters<typeof formatRoomKey>[0]>) => keys.map(formatRoomKey).sort()

layer(sqlLayer(services.databaseUrl), { excludeTestServices: true })("the database change feed", (it) => {
  it("decodes trigger payloads and names what is wrong with others", () => {
    expect(decodeChange('{"t":"t1","tb":"eventAttendees","id":"42"}')).toEqual(
      Either.right({ tenant: "t1", table: "eventAttendees", id: "42" }),
    )
    expect(Either.isLeft(decodeChange("garbage"))).toBe(true)
    const wrongTable = decodeChange('{"t":"t1","tb":"payments","id":"1"}')
    expect(Either.isLeft(wrongTable) && wrongTable.left).toContain("tb")
    const wrongId = decodeChange('{"t":"t1","tb":"events","id":"1; DROP"}')
    expect(Either.isLeft(wrongId) && wrongId.left).toContain("id")
  })

  it.effect("maps changes to rooms: events and groups directly, a user to every room they belong to", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfk")
      const change = (table: Change["table"], id: string): Change => ({ tenant: tenant.id, table, id })
      expect(keysOf(yield* keysForChanges(tenant, [change("eventAttendees", "2"), change("groups", "1")]))).toEqual([
        `event:${tenant.id}:2`,
        `group:${tenant.id}:1`,
      ])
      // u2 attends event 1 and is in group 1; u1 owns event 1; another tenant's change is ignored.
      const users = [
        change("users", "2"),
        change("matrixHandleRegistry", "1"),
        { ...change("users", "3"), tenant: "x" },
      ]
      expect(keysOf(yield* keysForChanges(tenant, users))).toEqual([`event:${tenant.id}:1`, `group:${tenant.id}:1`])
    }),
  )

  it.effect("installs triggers idempotently, notifies row changes as they commit, and uninstalls them", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cft")
      const channel = `test_${uniqueTenantId("ch").toLowerCase()}`
      expect(yield* triggersInstalled(tenant)).toBe(false)
      yield* installTriggers([tenant], channel)
      yield* installTriggers([tenant], channel)
      expect(yield* triggersInstalled(tenant)).toBe(true)

      const received = yield* Queue.unbounded<Change>()
      const listening = yield* Deferred.make<void>()
      yield* Effect.forkScoped(
        listenChanges({
          databaseUrl: Redacted.make(services.databaseUrl),
          channel,
          onChanges: (changes) => Queue.offerAll(received, changes).pipe(Effect.asVoid),
          onListening: () => Deferred.succeed(listening, undefined).pipe(Effect.asVoid),
          onLost: () => Effect.void,
        }),
      )
      yield* Deferred.await(listening)
      const sql = yield* SqlClient.SqlClient
      const next = Queue.take(received).pipe(Effect.timeout("5 seconds"))

      yield* addAttendee(tenant, { eventId: 2, userId: 1, status: "confirmed" })
      expect(yield* next).toEqual({ tenant: tenant.id, table: "eventAttendees", id: "2" })
      // A malformed notification on the channel is skipped; the next good one still arrives.
      yield* sql`SELECT pg_notify(${channel}, 'garbage')`
      yield* setGroupMemberRole(tenant, { groupId: 1, userId: 2, role: "admin" })
      expect(yield* next).toEqual({ tenant: tenant.id, table: "groupMembers", id: "1" })
      // Moving an attendee to another event changes both rooms.
      yield* sql`UPDATE ${sql(`${tenant.schema}.eventAttendees`)} SET "eventId" = 1 WHERE "eventId" = 2 AND "userId" = 1`
      expect([(yield* next).id, (yield* next).id]).toEqual(["2", "1"])
      yield* sql`UPDATE public."matrixHandleRegistry" SET handle = handle || 'x' WHERE "tenantId" = ${tenant.id} AND "userId" = 3`
      // Old and new row notify the same payload: Postgres delivers a transaction's duplicates once.
      expect(yield* next).toEqual({ tenant: tenant.id, table: "matrixHandleRegistry", id: "3" })

      yield* uninstallTriggers([tenant])
      expect(yield* triggersInstalled(tenant)).toBe(false)
      yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
      expect(Option.isNone(yield* Queue.take(received).pipe(Effect.timeout("1 second"), Effect.option))).toBe(true)
    }).pipe(Effect.scoped),
  )

  it.effect("polls updatedAt after a watermark from the database clock, with an overlap; deletions are not seen", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfp")
      const sql = yield* SqlClient.SqlClient
      const start = yield* initialWatermark
      const empty = yield* pollChanges(tenant, start, "0 millis")
      expect(empty.changes).toEqual([])
      yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
      yield* setGroupMemberRole(tenant, { groupId: 1, userId: 2, role: "moderator" })
      const first = yield* pollChanges(tenant, start, "0 millis")
      expect(first.changes.map((c) => `${c.table}:${c.id}`).sort()).toEqual(["eventAttendees:1", "groupMembers:1"])
      expect(first.watermark).toBeGreaterThan(start)
      // Nothing new: nothing reported, except within the overlap, where a late commit could hide.
      expect((yield* pollChanges(tenant, first.watermark, "0 millis")).changes).toEqual([])
      expect((yield* pollChanges(tenant, first.watermark, "1 hour")).changes.length).toBeGreaterThanOrEqual(2)
      yield* sql`DELETE FROM ${sql(`${tenant.schema}.groupMembers`)} WHERE "userId" = 2`
      expect((yield* pollChanges(tenant, first.watermark, "0 millis")).changes).toEqual([])
    }),
  )
})
