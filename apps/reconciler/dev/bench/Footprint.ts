/**
 * The daemon's footprint, for resource requests: `reconciler run` as its own process
 * managing a converged tenant, sampled once it is idle (queue empty, nothing applied for
 * 10 s, then 30 s of idling): resident memory (/proc) and its event loop's lag (from its
 * /metrics), as Node sizes its heap (given back once idle, and kept) and with the old space
 * limited. Sizes beyond those run
 * are extrapolated (and said to be): from what a daemon keeps per room (the planner
 * scenario measures it), and as a straight line between the two sizes measured.
 */

import { Effect } from "effect"
import { convergedTenant } from "./Convergence.ts"
import { memoryOf, startDaemon } from "./DaemonProcess.ts"
import type { Services } from "./Harness.ts"
import { heapLimitMiB, say, sleep } from "./Harness.ts"

/** One daemon over a converged tenant, measured once it is idle. */
const idleDaemon = (
  s: Services,
  tenant: Effect.Effect.Success<ReturnType<typeof convergedTenant>>,
  env: Record<string, string>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const daemon = yield* startDaemon(s, [tenant.runtime], { RESYNC_INTERVAL: "10m", POLL_INTERVAL: "30s", ...env })
      const convergedAfterMs = yield* daemon.converged(10_000, 1_800_000)
      const peakWhileStarting = memoryOf(daemon.pid).peak
      yield* say(
        `footprint: ${tenant.rooms} rooms, idle for 30 s${env.NODE_OPTIONS === undefined ? "" : ` (${env.NODE_OPTIONS})`}`,
      )
      yield* sleep(30_000)
      const memory = memoryOf(daemon.pid)
      const metrics = yield* daemon.scrape
      return {
        rooms: tenant.rooms,
        convergedAfterMs,
        rssMiB: Math.round(memory.rss),
        peakMiB: Math.round(Math.max(memory.peak, peakWhileStarting)),
        heapUsedMiB: Math.round(metrics("nodejs_heap_size_used_bytes") / 2 ** 20),
        // Over the 30 s of idling (nothing scraped it meanwhile).
        eventLoopLagP50Ms: metrics("nodejs_eventloop_lag_p50_seconds") * 1000,
        eventLoopLagP99Ms: metrics("nodejs_eventloop_lag_p99_seconds") * 1000,
        eventLoopLagMaxMs: metrics("nodejs_eventloop_lag_max_seconds") * 1000,
        cpuSeconds: metrics("process_cpu_seconds_total"),
      }
    }),
  )

/**
 * A converged tenant of about `rooms` rooms, measured three times: a daemon as Node sizes
 * its heap on this host (from its memory: it lets garbage pile up long before collecting)
 * and giving it back once idle (RELEASE_IDLE_HEAP, the default); the same keeping it, as V8
 * does by itself; and one whose old space is limited as a container's memory limit would
 * (--max-old-space-size).
 */
const idle = (s: Services, rooms: number) =>
  Effect.gen(function* () {
    const tenant = yield* convergedTenant(s, rooms)
    const released = yield* idleDaemon(s, tenant, {})
    const kept = yield* idleDaemon(s, tenant, { RELEASE_IDLE_HEAP: "false" })
    const limited = yield* idleDaemon(s, tenant, { NODE_OPTIONS: `--max-old-space-size=${heapLimitMiB}` })
    return { ...released, kept, limited: { ...limited, heapLimitMiB } }
  })

export const footprintScenario = (s: Services, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const measured = []
    for (const rooms of sizes) measured.push(yield* idle(s, rooms))
    const small = measured[0]
    const large = measured.at(-1)
    const perRoomMiB =
      small !== undefined && large !== undefined && large.rooms > small.rooms
        ? (large.rssMiB - small.rssMiB) / (large.rooms - small.rooms)
        : undefined
    const extrapolated =
      large === undefined || perRoomMiB === undefined
        ? undefined
        : { rooms: 10_000, rssMiB: Math.round(large.rssMiB + Math.max(0, perRoomMiB) * (10_000 - large.rooms)) }
    return { measured, perRoomMiB, extrapolated }
  })
