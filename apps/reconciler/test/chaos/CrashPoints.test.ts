/**
 * Crash points: the reconciler (the CLI's `apply`, the daemon) SIGKILLed at every step of
 * a room's apply, then started again. A homeserverTap in front of the real Synapse stops
 * the process at an exact step: before a request reaches Synapse, once Synapse applied it
 * but before the answer came back (so before its audit row could be closed), or at the
 * request after it. One tenant has a room for each crash point; run k is killed at point
 * k (earlier rooms are done by then), and a last run finishes. Then, per point's room:
 * exactly one room for its key, Matrix as OpenMeet says, every write that landed audited
 * once, no write twice.
 */
import type { ChildProcess } from "node:child_process"
import { SqlClient } from "@effect/sql"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  setAttendee,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import type { TapHooks, TappedRequest } from "@openmeet-reconciler/testing"
import { homeserverTap, reliabilityCase, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli, startCli } from "../cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "../daemon.ts"
import { type AuditRow, auditRows, checkLedger, landedWrites } from "./ledger.ts"

const { services, synapse, db, s } = harness()
const startDaemon = daemonStarter()

type Write = "create" | "name" | "levels" | "invite" | "kick"

/** Where to kill: at the n-th write of a kind to one event's room, before it reaches Synapse, once it landed, or at the request after it. */
interface CrashPoint {
  readonly event: number
  readonly name: string
  readonly write: Write
  readonly nth: number
  readonly when: "before" | "landed" | "next"
}

const points: ReadonlyArray<CrashPoint> = [
  { event: 1, name: "after the room's creation (audited)", write: "create", nth: 1, when: "next" },
  { event: 2, name: "room created, before its audit row", write: "create", nth: 1, when: "landed" },
  { event: 3, name: "after the settings write", write: "name", nth: 1, when: "next" },
  { event: 4, name: "after the power-levels write", write: "levels", nth: 1, when: "next" },
  { event: 5, name: "power levels written, before their audit row", write: "levels", nth: 1, when: "landed" },
  { event: 6, name: "between invites", write: "invite", nth: 2, when: "before" },
  { event: 7, name: "between kicks", write: "kick", nth: 2, when: "before" },
  { event: 8, name: "kick applied, before its audit row", write: "kick", nth: 1, when: "landed" },
]

const isWrite = (entry: TappedRequest, write: Write, room: string): boolean => {
  if (entry.method === "GET") return false
  if (write === "create") {
    const alias: unknown =
      typeof entry.body === "object" && entry.body !== null ? Reflect.get(entry.body, "room_alias_name") : undefined
    return entry.path === "/_matrix/client/v3/createRoom" && alias === room
  }
  if (!entry.path.includes(`/rooms/${room}/`)) return false
  if (write === "name") return entry.path.endsWith("/state/m.room.name/")
  if (write === "levels") return entry.path.endsWith("/state/m.room.power_levels/")
  return entry.path.endsWith(`/${write}`)
}

/**
 * Hooks that call `kill` at the crash point and hold that request (or its answer, or the
 * next request). `room` is the room id, or the alias localpart for a creation.
 */
const crashAt = (point: CrashPoint, room: string, kill: () => Promise<void>, reached: () => void): TapHooks => {
  let seen = 0
  let armed = false
  let fired = false
  const fire = async () => {
    fired = true
    reached()
    await kill()
    return "hold" as const
  }
  return {
    before: async (entry) => {
      if (fired) return "hold"
      if (armed) return fire()
      if (isWrite(entry, point.write, room) && ++seen === point.nth && point.when === "before") return fire()
      return "pass"
    },
    after: async (entry) => {
      if (fired) return "hold"
      if (isWrite(entry, point.write, room) && seen === point.nth && entry.status === 200) {
        if (point.when === "landed") return fire()
        if (point.when === "next") armed = true
      }
      return "pass"
    },
  }
}

/**
 * A tenant with one event per crash point: events 1 and 2 are new (a room each, created
 * with its invites); the rooms of 3–8 exist (made by a first apply) and drifted: 3
 * renamed, 4 and 5 a moderator promoted, 6 two new RSVPs, 7 two attendees rejected, 8 one.
 */
const prepare = async (prefix: string, homeserverUrl: string) => {
  const tenant = fixtureTenant(uniqueTenantId(prefix), s)
  const schema = `rec_${tenant.id}`
  const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
  const env = cliEnv(services, {
    TENANTS_B64: tenantsB64([tenant]),
    RECONCILER_SCHEMA: schema,
    RECONCILE_CONCURRENCY: "1",
    MATRIX_HOMESERVER_URL: homeserverUrl,
  })
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4, 5, 6]) yield* addUser(tenant, { id })
      for (const id of [3, 4, 5, 6, 7, 8]) {
        yield* addEvent(tenant, { id, slug: `ev${id}`, name: `Event ${id}`, userId: 1, visibility: "private" })
        yield* addAttendee(tenant, { eventId: id, userId: 1, status: "confirmed", role: "host" })
        for (const userId of [2, 3, 4]) yield* addAttendee(tenant, { eventId: id, userId, status: "confirmed" })
      }
    }),
  )
  const first = await runCli(["apply"], env)
  expect(first.stderr).toBe("")
  expect(first.code).toBe(0)
  await db.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`UPDATE "${tenant.schema}".events SET name = 'Event 3, renamed' WHERE id = 3`)
      for (const eventId of [4, 5]) yield* setAttendee(tenant, { eventId, userId: 2, role: "moderator" })
      for (const userId of [5, 6]) yield* addAttendee(tenant, { eventId: 6, userId, status: "confirmed" })
      for (const userId of [3, 4]) yield* setAttendee(tenant, { eventId: 7, userId, status: "rejected" })
      yield* setAttendee(tenant, { eventId: 8, userId: 3, status: "rejected" })
      for (const id of [1, 2]) {
        yield* addEvent(tenant, { id, slug: `ev${id}`, name: `Event ${id}`, userId: 1, visibility: "private" })
        yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
      }
    }),
  )
  const rooms = new Map<number, string>()
  for (const id of [3, 4, 5, 6, 7, 8]) {
    const room = await synapse.resolveAlias(`#event-ev${id}-${tenant.id}:${s}`)
    if (room === undefined) throw new Error(`the first apply made no room for event ${id}`)
    rooms.set(id, room)
  }
  return { tenant, schema, mx, env, rooms }
}

type Prepared = Awaited<ReturnType<typeof prepare>>

/** What the members and levels of each point's room must be in the end. */
const expectedMembers = (event: number, mx: (n: number) => string): Record<string, string> => {
  switch (event) {
    case 1:
    case 2:
      return { [mx(1)]: "invite", [mx(2)]: "invite" }
    case 6:
      return { [mx(5)]: "invite", [mx(6)]: "invite", [mx(3)]: "invite" }
    case 7:
      return { [mx(3)]: "leave", [mx(4)]: "leave", [mx(2)]: "invite" }
    case 8:
      return { [mx(3)]: "leave", [mx(4)]: "invite" }
    default:
      return { [mx(2)]: "invite", [mx(3)]: "invite" }
  }
}

interface Chain {
  readonly prepared: Prepared
  readonly log: ReadonlyArray<TappedRequest>
  readonly rows: ReadonlyArray<AuditRow>
  readonly reached: ReadonlySet<number>
  /** Kicks that landed, by user. */
  readonly kicked: ReadonlyArray<string>
  readonly planExit: number
  readonly recoveryMs: ReadonlyArray<number>
}

/** Kills a run at each point in turn, then lets a last run finish. */
const runChain = async (mode: "cli" | "daemon"): Promise<Chain> => {
  const tap = await homeserverTap(services.homeserverUrl)
  try {
    const prepared = await prepare(mode === "cli" ? "ccli" : "cdmn", tap.url)
    const { tenant, rooms, env } = prepared
    const daemonSettings = daemonEnv(services, { ...env, RECONCILE_WORKERS: "1" })
    const reached = new Set<number>()
    const recoveryMs: Array<number> = []
    for (const point of points) {
      const room = point.write === "create" ? `event-ev${point.event}-${tenant.id}` : (rooms.get(point.event) ?? "")
      const started = Date.now()
      if (mode === "cli") {
        const child: ChildProcess = startCli(["apply"], env)
        const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
        tap.setHooks(
          crashAt(
            point,
            room,
            async () => {
              child.kill("SIGKILL")
              await exited
            },
            () => reached.add(point.event),
          ),
        )
        await exited
      } else {
        const daemon = startDaemon(daemonSettings)
        tap.setHooks(
          crashAt(
            point,
            room,
            () => daemon.stop("SIGKILL").then(() => undefined),
            () => reached.add(point.event),
          ),
        )
        const gone = () => daemon.process.exitCode !== null || daemon.process.signalCode !== null
        await eventually("the crash point", async () => reached.has(point.event) && gone(), {
          daemon,
          timeoutMs: 60_000,
        }).catch(() => undefined)
        if (!gone()) await daemon.stop("SIGKILL")
      }
      // How long the run took to reach its crash point: the work redone after each restart.
      recoveryMs.push(Date.now() - started)
    }
    tap.setHooks({})
    if (mode === "cli") {
      const last = await runCli(["apply"], env)
      expect(last.stderr).toBe("")
      expect(last.code).toBe(0)
    } else {
      const daemon = startDaemon(daemonSettings)
      await ready(daemon)
      await eventually("convergence", async () => (await runCli(["plan", "--detailed-exitcode"], env)).code === 0, {
        daemon,
        timeoutMs: 60_000,
      })
      expect((await daemon.stop("SIGTERM")).code).toBe(0)
    }
    const planned = await runCli(["plan", "--detailed-exitcode"], env)
    const log = [...tap.log()]
    return {
      prepared,
      log,
      rows: await auditRows(db, prepared.schema),
      reached,
      kicked: log
        .filter((e) => e.status === 200 && e.path.endsWith("/kick"))
        .map((e) => String(typeof e.body === "object" && e.body !== null ? Reflect.get(e.body, "user_id") : "")),
      planExit: planned.code,
      recoveryMs,
    }
  } finally {
    await tap.close()
  }
}

/** Checks one point's room in the chain's outcome; records the case's row. */
const verifyPoint = async (
  chain: Chain,
  point: CrashPoint,
  measure: { faults: number; survived: number; actionsLost: number; roomsDuplicated: number; wrongKicks: number },
) => {
  const { tenant, mx } = chain.prepared
  const key = `event:${tenant.id}:${point.event}`
  const localpart = `event-ev${point.event}-${tenant.id}`
  const roomId = await synapse.resolveAlias(`#${localpart}:${s}`)
  const landed = landedWrites(
    chain.log,
    (alias) => (alias === localpart ? key : undefined),
    (room) => (room === roomId ? key : undefined),
  ).filter((w) => w.startsWith(`${key} `))
  const ledger = checkLedger(
    landed,
    chain.rows.filter((row) => row.key === key),
  )
  const creates = chain.log.filter(
    (e) => e.status === 200 && e.path === "/_matrix/client/v3/createRoom" && isWrite(e, "create", localpart),
  ).length
  const entitled = new Set(
    Object.entries(expectedMembers(point.event, mx))
      .filter(([, m]) => m !== "leave")
      .map(([u]) => u),
  )
  const members = roomId === undefined ? {} : await synapse.memberships(roomId)
  measure.faults = chain.reached.has(point.event) ? 1 : 0
  measure.actionsLost = ledger.unaudited.length + ledger.claimedNotLanded.length + (chain.planExit === 0 ? 0 : 1)
  measure.roomsDuplicated = Math.max(0, creates - 1)
  measure.wrongKicks = landed.filter((w) => w.includes(" kick ") && entitled.has(w.split(" ")[2] ?? "")).length
  const ok =
    measure.faults === 1 &&
    measure.actionsLost === 0 &&
    measure.roomsDuplicated === 0 &&
    measure.wrongKicks === 0 &&
    ledger.landedTwice.length === 0 &&
    ledger.auditedTwice.length === 0 &&
    ledger.open.length === 0
  measure.survived = ok ? 1 : 0
  expect(chain.reached.has(point.event)).toBe(true)
  expect(ledger).toEqual({ landedTwice: [], unaudited: [], auditedTwice: [], claimedNotLanded: [], open: [] })
  expect(chain.planExit).toBe(0)
  expect(roomId).toBeDefined()
  expect(point.write === "create" ? creates : 0).toBe(point.write === "create" ? 1 : 0)
  expect(members).toMatchObject(expectedMembers(point.event, mx))
  if (point.write === "levels") {
    expect((await synapse.powerLevels(roomId ?? "")).users).toMatchObject({ [mx(1)]: 99, [mx(2)]: 50 })
  }
  expect(measure.wrongKicks).toBe(0)
}

describe.each([
  ["apply SIGKILLed", "cli", "crash-cli"],
  ["the daemon SIGKILLed", "daemon", "crash-daemon"],
] as const)("crash points: %s at each step of a room, then run again", (_what, mode, reliabilityClass) => {
  let chain: Chain | undefined
  beforeAll(async () => {
    chain = await runChain(mode)
  }, 600_000)
  afterAll(() => {
    chain = undefined
  })

  it.each(points)("$name", async (point) => {
    await reliabilityCase(
      {
        class: reliabilityClass,
        case: point.name,
        expected: "one room per key, state as desired, each landed write audited once",
      },
      async (measure) => {
        if (chain === undefined) throw new Error("the chain of runs did not complete")
        const index = points.indexOf(point)
        measure.figures.msToCrashPoint = chain.recoveryMs[index] ?? 0
        await verifyPoint(chain, point, measure)
      },
    )
  })
})
