/**
 * Homeserver outage: a Synapse of the test's own is stopped (its process, SIGTERM) in the
 * middle of a daemon's cycle, right after a room's creation landed, for 5 seconds and for
 * 2 minutes, then started again. Expected: the daemon never exits, /readyz fails while
 * the homeserver is gone and passes again after, nobody is kicked, every room converges
 * exactly once, and the requests made during the outage stay few (backoff, no tight loop).
 * A homeserverTap between the daemon and Synapse counts every request and its time.
 */
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import type { PrivateSynapse } from "@openmeet-reconciler/testing"
import {
  homeserverTap,
  privateSynapse,
  reliabilityCase,
  synapseClient,
  testServices,
  uniqueTenantId,
} from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "../daemon.ts"

const { db, s } = harness()
const start = daemonStarter()
let hs: PrivateSynapse

beforeAll(async () => {
  hs = await privateSynapse("homeserver-outage", {
    port: 19430,
    appservicePort: 19431,
    databaseUrl: testServices().databaseUrl,
  })
}, 180_000)

afterAll(async () => {
  await hs?.dispose()
})

const outages = [
  { name: "5 seconds", ms: 5_000 },
  { name: "2 minutes", ms: 120_000 },
] as const

describe("the homeserver's process stopped mid-cycle, then started again", () => {
  it.each(outages)(
    "for $name",
    async (outage) => {
      await reliabilityCase(
        {
          class: "homeserver-outage",
          case: `Synapse stopped for ${outage.name}, mid-cycle`,
          expected: "no exit, /readyz 503 then 200, no kick, one room per key, requests bounded",
        },
        async (measure) => {
          const services = hs.services
          const synapse = synapseClient(services)
          const tenant = fixtureTenant(uniqueTenantId("hso"), s)
          const events = [1, 2, 3, 4, 5, 6]
          const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
          await db.runPromise(
            Effect.gen(function* () {
              yield* resetTenant(tenant, 40)
              for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
              // Event 9's room exists before the outage, with a member who must stay.
              yield* addEvent(tenant, { id: 9, slug: "before", userId: 1, visibility: "private" })
              yield* addAttendee(tenant, { eventId: 9, userId: 2, status: "confirmed" })
            }),
          )
          const base = { TENANTS_B64: tenantsB64([tenant]), RECONCILER_SCHEMA: `rec_${tenant.id}` }
          expect((await runCli(["apply"], cliEnv(services, base))).code).toBe(0)
          await db.runPromise(
            Effect.gen(function* () {
              for (const id of events) {
                yield* addEvent(tenant, { id, slug: `down${id}`, userId: 1, visibility: "private" })
                yield* addAttendee(tenant, { eventId: id, userId: 3, status: "confirmed" })
              }
            }),
          )
          let stoppedAt = 0
          let startedAt = 0
          const tap = await homeserverTap(services.homeserverUrl)
          try {
            let creations = 0
            let stopping: Promise<void> | undefined
            tap.setHooks({
              // While Synapse shuts down no request reaches it: a request cut inside Synapse's
              // createRoom can leave its alias on a room with no events (see docs/reliability.md).
              before: async () => {
                if (stopping !== undefined) await stopping
                return "pass" as const
              },
              after: (entry) => {
                // The homeserver goes away right after the third room's creation landed.
                if (
                  entry.path.endsWith("/createRoom") &&
                  entry.status === 200 &&
                  ++creations === 3 &&
                  stoppedAt === 0
                ) {
                  stoppedAt = Date.now()
                  stopping = hs.stop().then(() => {
                    measure.faults = 1
                  })
                }
                return "pass"
              },
            })
            const daemon = start({
              ...daemonEnv(services, { ...base, RECONCILE_CONCURRENCY: "1", RESYNC_INTERVAL: "20s" }),
              MATRIX_HOMESERVER_URL: tap.url,
            })
            await eventually("the outage", async () => measure.faults === 1, { daemon, timeoutMs: 90_000 })
            await eventually("/readyz to fail", async () => (await daemon.get("/readyz")).status === 503, { daemon })
            expect(JSON.parse((await daemon.get("/readyz")).body)).toMatchObject({
              ready: false,
              checks: { database: "ok" },
            })
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + outage.ms - Date.now())))
            expect(daemon.process.exitCode).toBeNull()
            expect((await daemon.get("/healthz")).status).toBe(200)
            const during = tap.log().filter((e) => e.at >= stoppedAt && !e.path.endsWith("/versions")).length
            await hs.start()
            startedAt = Date.now()
            await ready(daemon, { timeoutMs: 120_000 })
            await eventually(
              "every room with its invite",
              async () => {
                for (const id of events) {
                  const room = await synapse.resolveAlias(`#event-down${id}-${tenant.id}:${s}`)
                  if (room === undefined || (await synapse.memberships(room))[mx(3)] !== "invite") return false
                }
                return true
              },
              { daemon, timeoutMs: 120_000 },
            )
            const convergedMs = Date.now() - startedAt
            expect((await runCli(["plan", "--detailed-exitcode"], cliEnv(services, base))).code).toBe(0)
            const log = tap.log()
            const creates = new Map<string, number>()
            for (const e of log.filter((x) => x.path.endsWith("/createRoom") && x.status === 200)) {
              const alias = String(
                typeof e.body === "object" && e.body !== null ? Reflect.get(e.body, "room_alias_name") : "",
              )
              creates.set(alias, (creates.get(alias) ?? 0) + 1)
            }
            const kicks = log.filter((e) => e.path.endsWith("/kick") && e.status === 200)
            const before = await synapse.memberships(
              (await synapse.resolveAlias(`#event-before-${tenant.id}:${s}`)) ?? "",
            )
            measure.roomsDuplicated = [...creates.values()].filter((n) => n > 1).length
            measure.wrongKicks = kicks.length + (before[mx(2)] === "invite" ? 0 : 1)
            measure.actionsLost = events.length - creates.size
            const seconds = outage.ms / 1000
            measure.figures.outageSeconds = seconds
            measure.figures.requestsDuringOutage = during
            measure.figures.requestsPerSecond = during / seconds
            measure.figures.convergedSecondsAfterRestart = convergedMs / 1000
            measure.survived = daemon.process.exitCode === null ? 1 : 0
            expect([...creates.values()]).toEqual(events.map(() => 1))
            expect(kicks).toEqual([])
            expect(before[mx(2)]).toBe("invite")
            // Backoff, not a tight loop: a few requests a second at most, whatever the length.
            expect(during / seconds).toBeLessThan(3)
            expect((await daemon.stop("SIGTERM")).code).toBe(0)
          } finally {
            await tap.close()
            if (stoppedAt !== 0 && startedAt === 0) await hs.start()
          }
        },
      )
    },
    420_000,
  )
})
