/**
 * Planner and desired state at growing sizes, in process, against the real PostgreSQL: the
 * five desired-state queries, the pure planner over converged rooms, and the daemon's
 * converged full resync through a warm state cache whose homeserver answers at once from
 * memory (Converged.ts). Time per room must stay flat as the tenant grows.
 */

import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { RoomPlan } from "@openmeet-reconciler/core"
import { planRoom } from "@openmeet-reconciler/core"
import type { TenantRuntime } from "@openmeet-reconciler/engine"
import { contextOf, planPass, Store } from "@openmeet-reconciler/engine"
import type { MatrixService } from "@openmeet-reconciler/matrix"
import { Homeservers, makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Layer, Redacted } from "effect"
import { exposeGc } from "../../src/HeapRelease.ts"
import { convergedRooms, freshCopiesHomeserver, inMemoryHomeserver } from "./Converged.ts"
import type { Services, Timing } from "./Harness.ts"
import { heapLimitMiB, median, say, seededTenant, timed } from "./Harness.ts"

export interface PlannerRow {
  readonly rooms: number
  readonly events: number
  readonly attendeeRows: number
  readonly memberRows: number
  readonly desired: Timing
  readonly planner: Timing
  readonly resync: Timing
  readonly resyncRequests: number
  readonly resyncActions: number
  readonly heapMiB: number
  /**
   * The heap a warm state cache keeps per room (its rooms read as fresh copies, as from
   * JSON), measured with garbage collected before and after; absent when V8 does not expose its collector.
   */
  readonly cacheKiBPerRoom: number | undefined
  /** The heap a full pass over a cold cache commits beyond the settled heap, per room (its peak, which RSS keeps). */
  readonly passKiBPerRoom: number | undefined
  /** The converged resync in a process whose old space is limited (LimitedPass.ts), up to 10,000 rooms. */
  readonly limited: LimitedRun | undefined
  /** The same in a process whose heap Node sizes, then given back as an idle daemon does. */
  readonly ownProcess: LimitedRun | undefined
}

/** A pass in a process of its own (LimitedPass.ts); `heapLimitMiB` absent: the heap as Node sizes it. */
export type LimitedRun =
  | {
      readonly heapLimitMiB?: number
      readonly rooms: number
      /** Rooms the warm state cache holds after the passes. */
      readonly cachedRooms: number
      readonly resync: Timing
      readonly rssMiB: number
      readonly peakMiB: number
      /** Resident once the heap is given back as an idle daemon does (RELEASE_IDLE_HEAP). */
      readonly releasedMiB?: number
      /** Of that, the stand-in homeserver's serialized rooms (a daemon has none). */
      readonly standInMiB?: number
      readonly releasePauseMs?: number
    }
  | { readonly heapLimitMiB?: number; readonly failed: string }

/** Runs LimitedPass.ts over a seeded tenant, with the old space limited to `limitMiB` when given. */
const passProcess = (prefix: string, events: number, limitMiB: number | undefined): LimitedRun => {
  const script = fileURLToPath(new URL("LimitedPass.ts", import.meta.url))
  const limit = limitMiB === undefined ? {} : { heapLimitMiB: limitMiB }
  try {
    const out = execFileSync(
      process.execPath,
      [...(limitMiB === undefined ? [] : [`--max-old-space-size=${limitMiB}`]), script, prefix, String(events)],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 2 ** 20 },
    )
    const line = out.trim().split("\n").at(-1) ?? ""
    return { ...limit, ...JSON.parse(line) }
  } catch (error) {
    const stderr = error instanceof Error && "stderr" in error ? String(error.stderr) : String(error)
    const reason = /heap out of memory/i.test(stderr) ? "out of heap" : (stderr.trim().split("\n").at(-1) ?? "failed")
    return { ...limit, failed: reason }
  }
}

/** The heap after a full garbage collection, when V8 exposes its collector (HeapRelease.exposeGc). */
const settledHeap = (): NodeJS.MemoryUsage | undefined => {
  // As the daemon collects (HeapRelease.ts): no --expose-gc needed.
  const gc = exposeGc()
  if (gc === undefined) return undefined
  gc()
  gc()
  return process.memoryUsage()
}

const runs = 3

/** Every tenant's homeserver is this one. */
export const onlyHomeserver = (matrix: MatrixService) =>
  Layer.succeed(
    Homeservers,
    Homeservers.of({
      connect: () => Effect.succeed(matrix),
      targetFor: () => Effect.succeed({ homeserverUrl: "http://bench.invalid", asToken: Redacted.make("bench") }),
      forServer: () => Effect.succeed(matrix),
    }),
  )

/**
 * What a daemon keeps per room: the heap of a warm state cache filled by a full pass over
 * rooms each read as a fresh copy (as parsed from a response), measured settled before
 * and after; and the heap that pass committed at its peak beyond the settled heap before
 * it (V8 keeps committed pages: the RSS of a daemon stays near its last peak until it gives
 * them back, RELEASE_IDLE_HEAP).
 */
const perRoomMemory = (
  bot: string,
  state: ReturnType<typeof convergedRooms>,
  scope: { readonly tenants: ReadonlyArray<TenantRuntime>; readonly rooms: ReadonlyArray<never> },
) =>
  Effect.gen(function* () {
    // The stand-in is made first: its rooms (serialized, off the heap) are not the cache's.
    const homeserver = freshCopiesHomeserver(bot, state).matrix
    const before = settledHeap()
    if (before === undefined || state.rooms.size === 0) return { cacheKiBPerRoom: undefined, passKiBPerRoom: undefined }
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap(homeserver)
    yield* planPass(scope, { concurrency: 8 }).pipe(Effect.provide(onlyHomeserver(matrix)))
    const peak = process.memoryUsage().heapTotal
    const after = settledHeap() ?? before
    // The cache is still referenced here, so what it keeps is in `after`.
    const rooms = Math.max(1, cache.stats().rooms)
    return {
      cacheKiBPerRoom: (after.heapUsed - before.heapUsed) / 1024 / rooms,
      passKiBPerRoom: Math.max(0, peak - before.heapTotal) / 1024 / rooms,
    }
  })

export const plannerScenario = (s: Services, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    yield* (yield* Store).migrate
    const rows: Array<PlannerRow> = []
    for (const target of sizes) {
      // Every fifth event brings a group: 1.2 rooms an event.
      const events = Math.round(target / 1.2)
      yield* say(`planner: seeding ${events} events (about ${target} rooms, 25 attendees each)`)
      const { runtime, seeded } = yield* seededTenant(s, `plan${target}`, events, { attendeesPerEvent: 50, seed: 5 })
      const desiredState = yield* DesiredState
      const desiredRuns: Array<Timing> = []
      let outcomes = (yield* desiredState.forTenant(runtime.tenant, runtime.policy)).rooms
      for (let i = 0; i < runs; i++) {
        const { value, timing } = yield* timed(desiredState.forTenant(runtime.tenant, runtime.policy))
        outcomes = value.rooms
        desiredRuns.push(timing)
      }
      const state = convergedRooms(outcomes, s.bot)
      const plannerRuns: Array<Timing> = []
      for (let i = 0; i < runs; i++) {
        const { timing } = yield* timed(
          Effect.sync(() => {
            const plans: Array<RoomPlan> = []
            for (const outcome of outcomes) {
              const key = outcome._tag === "Desired" ? outcome.room.key : outcome.key
              const actual =
                outcome._tag === "Desired" ? state.rooms.get(state.byAlias.get(outcome.room.alias) ?? "") : undefined
              const plan = planRoom(outcome, actual, contextOf(runtime, key))
              if (plan !== undefined) plans.push(plan)
            }
            return plans
          }),
        )
        plannerRuns.push(timing)
      }
      // The daemon's converged resync: a warm cache, every room recorded (as after its first pass).
      let requests = 0
      const cache = makeStateCache({ maxAge: "1 hour" })
      const matrix = cache.wrap(inMemoryHomeserver(s.bot, state, () => void requests++))
      const homeservers = onlyHomeserver(matrix)
      const scope = { tenants: [runtime], rooms: [] }
      const memory = yield* perRoomMemory(s.bot, state, scope)
      const first = yield* planPass(scope, { concurrency: 8 }).pipe(Effect.provide(homeservers))
      yield* (yield* Store).recordStatus(first.plan.rooms, [runtime.tenant.id])
      const resyncRuns: Array<Timing> = []
      let actions = 0
      for (let i = 0; i < runs; i++) {
        cache.invalidateJoined()
        requests = 0
        const { value, timing } = yield* timed(planPass(scope, { concurrency: 8 }).pipe(Effect.provide(homeservers)))
        actions = value.plan.rooms.reduce((n, room) => n + room.actions.length, 0)
        resyncRuns.push(timing)
      }
      const limited = target <= 10_000 ? passProcess(`plan${target}`, events, heapLimitMiB) : undefined
      const ownProcess = target <= 10_000 ? passProcess(`plan${target}`, events, undefined) : undefined
      const row: PlannerRow = {
        rooms: outcomes.length,
        events: seeded?.events ?? events,
        attendeeRows: seeded?.attendees ?? 0,
        memberRows: seeded?.groupMembers ?? 0,
        desired: median(desiredRuns),
        planner: median(plannerRuns),
        resync: median(resyncRuns),
        resyncRequests: requests,
        resyncActions: actions,
        heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
        ...memory,
        limited,
        ownProcess,
      }
      rows.push(row)
      yield* say(
        `planner: ${row.rooms} rooms: desired ${row.desired.ms.toFixed(0)} ms, planner ${row.planner.ms.toFixed(0)} ms, resync ${row.resync.ms.toFixed(0)} ms (${requests} request(s), ${actions} action(s))`,
      )
    }
    return { rows }
  })
