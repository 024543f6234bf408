import * as net from "node:net"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import type { RoomKey } from "@openmeet-reconciler/core"
import { formatRoomKey } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  fixtureTenant,
  removeGroupMember,
  resetTenant,
  setGroupMemberRole,
} from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import type { Duration, Scope } from "effect"
import { Effect, Either, Option, Queue, Redacted } from "effect"
import type { Change } from "../src/index.ts"
import {
  decodeChange,
  initialWatermark,
  installTriggers,
  keysForChanges,
  listenChanges,
  pollChanges,
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

const keysOf = (keys: ReadonlyArray<RoomKey>) => keys.map(formatRoomKey).sort()
const uniqueChannel = () => `test_${uniqueTenantId("ch").toLowerCase()}`

/** A listener forked into the test's scope: what it delivered and what it said about its connection. */
const listening = (options: {
  readonly channel: string
  readonly databaseUrl?: string
  readonly applicationName?: string
  readonly heartbeat?: Duration.DurationInput
}) =>
  Effect.gen(function* () {
    const changes = yield* Queue.unbounded<Change>()
    const status = yield* Queue.unbounded<string>()
    yield* Effect.forkScoped(
      listenChanges({
        databaseUrl: Redacted.make(options.databaseUrl ?? services.databaseUrl),
        channel: options.channel,
        maxBackoff: "1 second",
        ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
        ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
        onChanges: (batch) => Queue.offerAll(changes, batch).pipe(Effect.asVoid),
        onListening: (reconnected) => Queue.offer(status, reconnected ? "listening again" : "listening"),
        onLost: (message) => Queue.offer(status, `lost: ${message}`),
      }),
    )
    const within = <A>(queue: Queue.Queue<A>, what: string) =>
      Queue.take(queue).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`no ${what} within 5 seconds`) }),
      )
    return {
      next: within(changes, "change"),
      status: within(status, "status"),
      /** Nothing more arrives for a while (a trigger that should not fire did not). */
      quiet: Queue.take(changes).pipe(Effect.timeout("1 second"), Effect.option, Effect.map(Option.isNone)),
    }
  })

/** The sessions with this application_name, as Postgres sees them. */
const sessions = (applicationName: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${applicationName}`,
  ).pipe(Effect.map((rows) => rows[0]?.n ?? 0))

/**
 * A TCP proxy to the test database that can cut its open connections silently (no FIN, no
 * RST: what a NAT forgetting an idle connection does) or refuse new ones (the database down).
 */
const tcpProxy = (
  databaseUrl: string,
): Effect.Effect<
  { readonly url: string; readonly freeze: () => void; readonly refuse: (on: boolean) => void },
  Error,
  Scope.Scope
> => {
  const target = new URL(databaseUrl)
  const pairs = new Set<readonly [net.Socket, net.Socket]>()
  let refusing = false
  const server = net.createServer((downstream) => {
    if (refusing) {
      downstream.destroy()
      return
    }
    const upstream = net.connect(Number(target.port || "5432"), target.hostname)
    const pair = [downstream, upstream] as const
    pairs.add(pair)
    const close = () => {
      downstream.destroy()
      upstream.destroy()
      pairs.delete(pair)
    }
    for (const socket of pair) socket.on("error", close).on("close", close)
    downstream.pipe(upstream)
    upstream.pipe(downstream)
  })
  return Effect.acquireRelease(
    Effect.async<number, Error>((resume) => {
      server.once("error", (error) => resume(Effect.fail(error)))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(
          typeof address === "object" && address !== null
            ? Effect.succeed(address.port)
            : Effect.fail(new Error("proxy has no port")),
        )
      })
    }),
    () =>
      Effect.async<void>((resume) => {
        for (const pair of pairs) for (const socket of pair) socket.destroy()
        server.close(() => resume(Effect.void))
      }),
  ).pipe(
    Effect.map((port) => {
      const url = new URL(databaseUrl)
      url.host = `127.0.0.1:${port}`
      return {
        url: url.toString(),
        freeze: () => {
          for (const [downstream, upstream] of pairs) {
            downstream.unpipe(upstream)
            upstream.unpipe(downstream)
            downstream.pause()
            upstream.pause()
          }
        },
        refuse: (on: boolean) => {
          refusing = on
        },
      }
    }),
  )
}

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
      // A poll after a bulk update can name more users than a statement may have parameters.
      const many = Array.from({ length: 30_000 }, (_, i) => change("users", String(i + 1)))
      expect(keysOf(yield* keysForChanges(tenant, many))).toEqual([
        `event:${tenant.id}:1`,
        `event:${tenant.id}:2`,
        `group:${tenant.id}:1`,
      ])
    }),
  )

  it.effect("installs triggers idempotently, notifies row changes as they commit, and uninstalls them", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cft")
      const sql = yield* SqlClient.SqlClient
      const table = (name: string) => sql(`${tenant.schema}.${name}`)
      const channel = uniqueChannel()
      expect(yield* triggersInstalled(tenant)).toBe(false)
      yield* installTriggers([tenant], channel)
      yield* installTriggers([tenant], channel)
      expect(yield* triggersInstalled(tenant)).toBe(true)
      expect(yield* triggersInstalled(tenant, channel)).toBe(true)

      const feed = yield* listening({ channel })
      expect(yield* feed.status).toBe("listening")
      /** The rooms the next notification affects. */
      const nextKeys = Effect.flatMap(feed.next, (change) => keysForChanges(tenant, [change]))
      const event = (id: number) => `event:${tenant.id}:${id}`
      const group = (id: number) => `group:${tenant.id}:${id}`

      yield* addAttendee(tenant, { eventId: 2, userId: 1, status: "confirmed" })
      expect(yield* feed.next).toEqual({ tenant: tenant.id, table: "eventAttendees", id: "2" })
      // A malformed notification on the channel is skipped; the next good one still arrives.
      yield* sql`SELECT pg_notify(${channel}, 'garbage')`
      yield* setGroupMemberRole(tenant, { groupId: 1, userId: 2, role: "admin" })
      expect(keysOf(yield* nextKeys)).toEqual([group(1)])
      // A removal deletes the row: the trigger reads the old one.
      yield* removeGroupMember(tenant, { groupId: 1, userId: 2 })
      expect(keysOf(yield* nextKeys)).toEqual([group(1)])
      // A user's change concerns every room they attend, own or belong to.
      yield* addGroupMember(tenant, { groupId: 1, userId: 1, role: "member" })
      expect(keysOf(yield* nextKeys)).toEqual([group(1)])
      yield* sql`UPDATE ${table("users")} SET "firstName" = 'Ada', "updatedAt" = now() WHERE id = 1`
      expect(keysOf(yield* nextKeys)).toEqual([event(1), event(2), group(1)])
      // A handle registered later: the user's rooms again, the tenant from the registry row.
      yield* addUser(tenant, { id: 4, handle: null })
      expect(keysOf(yield* nextKeys)).toEqual([])
      yield* addAttendee(tenant, { eventId: 2, userId: 4, status: "confirmed" })
      expect(keysOf(yield* nextKeys)).toEqual([event(2)])
      yield* sql`INSERT INTO public."matrixHandleRegistry" ${sql.insert({ handle: `${tenant.id}.late`, tenantId: tenant.id, userId: 4 })}`
      const registered = yield* feed.next
      expect(registered).toEqual({ tenant: tenant.id, table: "matrixHandleRegistry", id: "4" })
      expect(keysOf(yield* keysForChanges(tenant, [registered]))).toEqual([event(2)])
      // Moving an attendee to another event changes both rooms.
      yield* sql`UPDATE ${table("eventAttendees")} SET "eventId" = 1 WHERE "eventId" = 2 AND "userId" = 1`
      expect([yield* nextKeys, yield* nextKeys].flat().map(formatRoomKey)).toEqual([event(2), event(1)])
      yield* sql`UPDATE public."matrixHandleRegistry" SET handle = handle || 'x' WHERE "tenantId" = ${tenant.id} AND "userId" = 3`
      // Old and new row notify the same payload: Postgres delivers a transaction's duplicates once.
      expect(yield* feed.next).toEqual({ tenant: tenant.id, table: "matrixHandleRegistry", id: "3" })
      expect(yield* feed.quiet).toBe(true)

      yield* uninstallTriggers([tenant])
      yield* uninstallTriggers([tenant])
      expect(yield* triggersInstalled(tenant)).toBe(false)
      yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
      yield* addUser(tenant, { id: 5 })
      expect(yield* feed.quiet).toBe(true)
    }).pipe(Effect.scoped),
  )

  it.effect("counts a disabled trigger, or one notifying another channel, as not installed", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfd")
      const sql = yield* SqlClient.SqlClient
      const channel = uniqueChannel()
      yield* installTriggers([tenant], channel)
      expect(yield* triggersInstalled(tenant, channel)).toBe(true)
      expect(yield* triggersInstalled(tenant, "another_channel")).toBe(false)
      yield* sql.unsafe(`ALTER TABLE "${tenant.schema}"."groupMembers" DISABLE TRIGGER matrix_reconciler_notify`)
      expect(yield* triggersInstalled(tenant)).toBe(false)
      yield* uninstallTriggers([tenant])
    }),
  )

  it.effect("names every missing table with its tenant, and installs nothing for any tenant", () =>
    Effect.gen(function* () {
      const good = yield* seeded("cfg")
      const sql = yield* SqlClient.SqlClient
      const partial = yield* seeded("cfq")
      yield* sql.unsafe(`DROP TABLE "${partial.schema}"."groupMembers"`)
      const absent = fixtureTenant(uniqueTenantId("cfa"), server)
      const channel = uniqueChannel()

      const missingOne = yield* installTriggers([good, partial], channel).pipe(Effect.flip)
      expect(missingOne).toMatchObject({
        _tag: "TriggerError",
        tenant: partial.id,
        message: `table "${partial.schema}"."groupMembers" does not exist`,
      })
      const missingAll = yield* installTriggers([good, absent], channel).pipe(Effect.flip)
      expect(missingAll.tenant).toBe(absent.id)
      expect(missingAll.message).toBe(
        ["events", "eventAttendees", "groups", "groupMembers", "users"]
          .map((table) => `table "${absent.schema}"."${table}" does not exist`)
          .join("; "),
      )
      expect(yield* triggersInstalled(good)).toBe(false)
    }),
  )

  it.effect("reconnects when its connection is killed, says so, and hears later changes", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfr")
      const sql = yield* SqlClient.SqlClient
      const channel = uniqueChannel()
      const applicationName = `test listen ${channel}`
      yield* installTriggers([tenant], channel)
      yield* Effect.addFinalizer(() => Effect.orDie(uninstallTriggers([tenant])))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const feed = yield* listening({ channel, applicationName })
          expect(yield* feed.status).toBe("listening")
          expect(yield* sessions(applicationName)).toBe(1)

          yield* sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${applicationName}`
          expect(yield* feed.status).toMatch(/^lost: .*terminat/)
          // Notifications sent now are lost: "listening again" is the caller's cue to resync.
          expect(yield* feed.status).toBe("listening again")
          yield* addAttendee(tenant, { eventId: 2, userId: 1, status: "confirmed" })
          expect(yield* feed.next).toEqual({ tenant: tenant.id, table: "eventAttendees", id: "2" })
        }),
      )
      // Interrupting the feed closes its connection.
      expect(yield* sessions(applicationName)).toBe(0)
    }).pipe(Effect.scoped),
  )

  it.effect("notices a connection cut silently by its heartbeat, and survives the database being away", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfh")
      const channel = uniqueChannel()
      yield* installTriggers([tenant], channel)
      yield* Effect.addFinalizer(() => Effect.orDie(uninstallTriggers([tenant])))
      const proxy = yield* tcpProxy(services.databaseUrl)
      const feed = yield* listening({ channel, databaseUrl: proxy.url, heartbeat: "300 millis" })
      expect(yield* feed.status).toBe("listening")

      // The database is unreachable: the connection stops answering, new ones are refused.
      proxy.refuse(true)
      proxy.freeze()
      expect(yield* feed.status).toBe("lost: no answer to SELECT 1 within 300ms")
      const refused = yield* feed.status
      expect(refused).toMatch(/^lost: /)
      expect(refused).not.toBe("lost: no answer to SELECT 1 within 300ms")

      proxy.refuse(false)
      let status = yield* feed.status
      while (status.startsWith("lost: ")) status = yield* feed.status
      expect(status).toBe("listening again")
      yield* addAttendee(tenant, { eventId: 2, userId: 1, status: "confirmed" })
      expect(yield* feed.next).toEqual({ tenant: tenant.id, table: "eventAttendees", id: "2" })

      // Stopping while the connection is cut silently does not wait for a goodbye that never comes.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const cut = yield* listening({ channel, databaseUrl: proxy.url, heartbeat: "1 hour" })
          expect(yield* cut.status).toBe("listening")
          proxy.freeze()
        }),
      ).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the feed did not stop") }))
    }).pipe(Effect.scoped),
  )

  it.effect("polls updatedAt after a watermark from the database clock, with an overlap; deletions are not seen", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cfp")
      const sql = yield* SqlClient.SqlClient
      const start = yield* initialWatermark
      const empty = yield* pollChanges(tenant, start, "0 millis")
      expect(empty).toEqual({ changes: [], watermark: start })
      yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
      yield* setGroupMemberRole(tenant, { groupId: 1, userId: 2, role: "moderator" })
      const first = yield* pollChanges(tenant, start, "0 millis")
      const found = (changes: ReadonlyArray<Change>) => changes.map((c) => `${c.table}:${c.id}`).sort()
      expect(found(first.changes)).toEqual(["eventAttendees:1", "groupMembers:1"])
      expect(first.watermark).toBeGreaterThan(start)
      expect(keysOf(yield* keysForChanges(tenant, first.changes))).toEqual([
        `event:${tenant.id}:1`,
        `group:${tenant.id}:1`,
      ])
      // Nothing new: nothing reported, except within the overlap, where a late commit could hide.
      expect(yield* pollChanges(tenant, first.watermark, "0 millis")).toEqual({
        changes: [],
        watermark: first.watermark,
      })
      const overlap = yield* pollChanges(tenant, first.watermark, "1 hour")
      // The seed's rows are within the hour too; each entity is reported once.
      expect(found(overlap.changes)).toEqual([
        "eventAttendees:1",
        "eventAttendees:2",
        "events:1",
        "events:2",
        "groupMembers:1",
        "groups:1",
        "matrixHandleRegistry:1",
        "matrixHandleRegistry:2",
        "matrixHandleRegistry:3",
        "users:1",
        "users:2",
        "users:3",
      ])
      expect(overlap.watermark).toBe(first.watermark)
      // Another tenant's rows are not this tenant's changes.
      const other = yield* seeded("cfo")
      expect((yield* pollChanges(tenant, first.watermark, "0 millis")).changes).toEqual([])
      yield* addAttendee(other, { eventId: 1, userId: 3, status: "confirmed" })
      expect((yield* pollChanges(tenant, first.watermark, "0 millis")).changes).toEqual([])
      // A deleted row leaves nothing to poll: the full resync finds what it changes.
      yield* removeGroupMember(tenant, { groupId: 1, userId: 2 })
      yield* sql`DELETE FROM ${sql(`${tenant.schema}.eventAttendees`)} WHERE "userId" = 3`
      expect((yield* pollChanges(tenant, first.watermark, "0 millis")).changes).toEqual([])
    }),
  )

  it.effect("polls OpenMeet's UTC timestamps (without time zone) whatever the session's time zone", () =>
    Effect.gen(function* () {
      const tenant = yield* seeded("cftz")
      const sql = yield* SqlClient.SqlClient
      const start = yield* initialWatermark
      // OpenMeet writes UTC into `timestamp` columns, whatever zone its readers are in.
      yield* sql`UPDATE ${sql(`${tenant.schema}.events`)} SET "updatedAt" = now() AT TIME ZONE 'UTC' WHERE id = 2`
      const separator = services.databaseUrl.includes("?") ? "&" : "?"
      const farEast = `${services.databaseUrl}${separator}options=${encodeURIComponent("-c TimeZone=Pacific/Kiritimati")}`
      const polled = yield* pollChanges(tenant, start, "0 millis").pipe(Effect.provide(sqlLayer(farEast)))
      expect(polled.changes.map((c) => `${c.table}:${c.id}`)).toEqual(["events:2"])
      // And a session west of UTC does not see it again after the watermark it returned.
      const farWest = `${services.databaseUrl}${separator}options=${encodeURIComponent("-c TimeZone=Pacific/Honolulu")}`
      const again = yield* pollChanges(tenant, polled.watermark, "0 millis").pipe(Effect.provide(sqlLayer(farWest)))
      expect(again.changes).toEqual([])
    }),
  )
})
