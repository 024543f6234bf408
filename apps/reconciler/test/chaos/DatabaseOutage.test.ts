/**
 * Database outage: OpenMeet's PostgreSQL (a cluster of the test's own, also holding the
 * reconciler's schema and its leader lock) is stopped, its process really ended, at the
 * daemon's start and in the middle of a cycle. Expected: the daemon keeps running and
 * says why it is not ready; no kick or demotion reaches Matrix while the data cannot be
 * read; after the restart it leads again, LISTEN reconnects, and what changed meanwhile
 * (drift made in Matrix during the outage, rows changed as the database came back)
 * converges. A homeserverTap sees every write.
 */
import type { SqlClient } from "@effect/sql"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import type { PrivatePostgres, TappedRequest } from "@openmeet-reconciler/testing"
import {
  homeserverTap,
  privatePostgres,
  reliabilityCase,
  sqlLayer,
  synapseClient,
  testServices,
  uniqueTenantId,
} from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { daemonEnv, daemonStarter, eventually, ready } from "../daemon.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const start = daemonStarter()
let pg: PrivatePostgres
let db: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown>

beforeAll(async () => {
  pg = await privatePostgres("database-outage", 19424)
  db = ManagedRuntime.make(sqlLayer(pg.databaseUrl))
}, 120_000)

afterAll(async () => {
  await db?.dispose()
  await pg?.dispose()
})

/** Kicks, and power-levels writes that lower someone: what must never follow from unreadable data. */
const harmful = (log: ReadonlyArray<TappedRequest>, since: number) =>
  log.filter((e) => e.at >= since && e.method !== "GET" && (e.path.endsWith("/kick") || e.path.endsWith("/ban")))

const seed = async (prefix: string) => {
  const tenant = fixtureTenant(uniqueTenantId(prefix), s)
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4, 5]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "kept", userId: 1, visibility: "private" })
      for (const userId of [2, 3]) yield* addAttendee(tenant, { eventId: 1, userId, status: "confirmed" })
    }),
  )
  const env = cliEnv(services, {
    TENANTS_B64: tenantsB64([tenant]),
    DATABASE_URL: pg.databaseUrl,
    RECONCILER_SCHEMA: `rec_${tenant.id}`,
  })
  expect((await runCli(["install-triggers"], env)).code).toBe(0)
  return { tenant, env, mx: (n: number) => `@${tenant.id}.u${n}:${s}` }
}

const roomOf = (tenant: { readonly id: string }, slug: string) =>
  synapse.resolveAlias(`#event-${slug}-${tenant.id}:${s}`)

describe("OpenMeet's database process stopped", () => {
  it("at the daemon's start: it waits, says why, then reconciles", async () => {
    await reliabilityCase(
      {
        class: "database-outage",
        case: "PostgreSQL stopped at the daemon's start",
        expected: "no exit, /readyz 503 (database), then ready and reconciled",
      },
      async (measure) => {
        const { tenant, env, mx } = await seed("dbs")
        await pg.stop()
        measure.faults = 1
        try {
          const daemon = start(daemonEnv(services, { ...env, POLL_INTERVAL: "1h" }))
          await eventually("/healthz", async () => (await daemon.get("/healthz")).status === 200, { daemon })
          const waiting = await daemon.get("/readyz")
          expect(waiting.status).toBe(503)
          expect(JSON.parse(waiting.body)).toMatchObject({
            ready: false,
            checks: { database: "error: not connected yet" },
          })
          await new Promise((resolve) => setTimeout(resolve, 5000))
          expect(daemon.process.exitCode).toBeNull()
          await pg.start()
          await ready(daemon, { timeoutMs: 90_000 })
          await eventually(
            "the room's invites",
            async () => {
              const room = await roomOf(tenant, "kept")
              return room !== undefined && (await synapse.memberships(room))[mx(3)] === "invite"
            },
            { daemon, timeoutMs: 60_000 },
          )
          measure.survived = 1
          expect((await daemon.stop("SIGTERM")).code).toBe(0)
        } finally {
          await pg.start()
        }
      },
    )
  })

  it("mid-cycle: no kick, the daemon stays, LISTEN reconnects, what changed meanwhile converges", async () => {
    await reliabilityCase(
      {
        class: "database-outage",
        case: "PostgreSQL stopped mid-cycle for 15 s",
        expected: "no kick or demotion, no exit, lock and LISTEN regained, changes converge",
      },
      async (measure) => {
        const { tenant, env, mx } = await seed("dbm")
        const admin = `@admin-${tenant.id}:${s}`
        const tap = await homeserverTap(services.homeserverUrl)
        let stoppedAt = 0
        try {
          const daemonSettings = {
            ...daemonEnv(services, {
              ...env,
              POLL_INTERVAL: "1h",
              RECONCILE_CONCURRENCY: "1",
              RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
            }),
            MATRIX_HOMESERVER_URL: tap.url,
          }
          const daemon = start(daemonSettings)
          await ready(daemon)
          const kept = await roomOf(tenant, "kept")
          if (kept === undefined) throw new Error("no room")
          await eventually("the first invites", async () => (await synapse.memberships(kept))[mx(3)] === "invite", {
            daemon,
          })
          // Six new events: while their rooms are being made, the database goes away.
          let creations = 0
          let stopping: Promise<void> | undefined
          tap.setHooks({
            after: (entry) => {
              if (entry.path.endsWith("/createRoom") && entry.status === 200 && ++creations === 2) {
                stoppedAt = Date.now()
                stopping = pg.stop().then(() => {
                  measure.faults = 1
                })
              }
              return "pass"
            },
          })
          await db.runPromise(
            Effect.gen(function* () {
              for (const id of [11, 12, 13, 14, 15, 16]) {
                yield* addEvent(tenant, { id, slug: `new${id}`, userId: 1, visibility: "private" })
                yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
              }
            }),
          )
          await eventually("the outage", async () => measure.faults === 1, { daemon, timeoutMs: 60_000 })
          await stopping
          await eventually(
            "/readyz to say the database is down",
            async () => {
              const { status, body } = await daemon.get("/readyz")
              return status === 503 && !body.includes('"database":"ok"')
            },
            { daemon },
          )
          // Drift in Matrix meanwhile: a protected admin makes u2 a moderator.
          await synapse.register(`admin-${tenant.id}`)
          await synapse.inviteAs(services.botUserId, kept, admin)
          await synapse.joinAs(admin, kept)
          const levels = await synapse.powerLevels(kept)
          const users = { ...Object(levels.users) }
          await synapse.setPowerLevels(kept, { ...levels, users: { ...users, [admin]: 100 } })
          await synapse.setPowerLevels(
            kept,
            { ...(await synapse.powerLevels(kept)), users: { ...users, [admin]: 100, [mx(2)]: 50 } },
            admin,
          )
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 15_000 - Date.now())))
          expect(daemon.process.exitCode).toBeNull()
          expect((await daemon.get("/healthz")).status).toBe(200)
          expect(daemon.log()).toContain("leadership: stepped down")
          // While the data cannot be read, nothing that removes or lowers anyone is sent.
          const harmDuringOutage = tap
            .log()
            .filter((e) => e.at >= stoppedAt + 500 && e.path.endsWith("/state/m.room.power_levels/"))
            .concat(harmful(tap.log(), stoppedAt))
          await pg.start()
          const restartedAt = Date.now()
          // Rows changed as the database came back, before the daemon reconnected.
          await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 4, status: "confirmed" }))
          await ready(daemon, { timeoutMs: 90_000 })
          await eventually(
            "every room, the drift put back, the change applied",
            async () => {
              for (const id of [11, 12, 13, 14, 15, 16]) {
                const room = await roomOf(tenant, `new${id}`)
                if (room === undefined || (await synapse.memberships(room))[mx(2)] !== "invite") return false
              }
              const now: unknown = (await synapse.powerLevels(kept)).users
              const members = await synapse.memberships(kept)
              return (
                typeof now === "object" &&
                now !== null &&
                Reflect.get(now, mx(2)) === undefined &&
                members[mx(4)] === "invite"
              )
            },
            { daemon, timeoutMs: 120_000 },
          )
          const convergedMs = Date.now() - restartedAt
          // LISTEN is back: with polling and resync an hour apart, only a NOTIFY brings this in.
          await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 5, status: "confirmed" }))
          await eventually("u5's invite (NOTIFY)", async () => (await synapse.memberships(kept))[mx(5)] === "invite", {
            daemon,
            timeoutMs: 30_000,
          })
          const members = await synapse.memberships(kept)
          measure.wrongKicks = harmful(tap.log(), 0).length + ([2, 3].some((n) => members[mx(n)] !== "invite") ? 1 : 0)
          measure.figures.convergedSecondsAfterRestart = convergedMs / 1000
          measure.figures.leaderStepDowns = daemon.log().split("leadership: stepped down").length - 1
          measure.survived = daemon.process.exitCode === null ? 1 : 0
          expect(harmDuringOutage).toEqual([])
          expect(measure.wrongKicks).toBe(0)
          expect((await daemon.stop("SIGTERM")).code).toBe(0)
        } finally {
          await tap.close()
          await pg.start()
        }
      },
    )
  }, 300_000)
})
