import { performance } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Duration, Effect } from "effect"

/**
 * Giving back to the operating system the heap a burst of work made V8 grow.
 *
 * A full pass holds every room's desired state and plan at once, and V8, on a host with
 * memory to spare, lets the garbage of a pass pile up to several times the live data before
 * it collects. After the pass it keeps those pages (collected, but pooled and committed), and
 * its own memory reducer never starts in a daemon whose timers keep allocating a little:
 * measured, an idle daemon's resident memory is its last pass's peak. One compacting
 * collection once the process is idle returns them (V8's "last resort" collection: it
 * compacts, shrinks the spaces and releases the pooled pages).
 */

/** V8's collector, as `--expose-gc` makes it available (the options V8's gc extension takes). */
export type CollectGarbage = (options?: {
  readonly type?: "major" | "minor"
  readonly execution?: "sync" | "async"
  readonly flavor?: "regular" | "last-resort"
}) => void

/**
 * V8's `gc()` for this process: the global one when Node was started with `--expose-gc`,
 * otherwise exposed now (V8 installs it in contexts made after the flag is set) and the
 * flag set back. Undefined when this V8 refuses.
 */
export const exposeGc = (): CollectGarbage | undefined => {
  const global = (globalThis as { gc?: unknown }).gc
  if (typeof global === "function") return global as CollectGarbage
  try {
    setFlagsFromString("--expose-gc")
    const gc: unknown = runInNewContext("gc")
    return typeof gc === "function" ? (gc as CollectGarbage) : undefined
  } catch {
    return undefined
  } finally {
    setFlagsFromString("--no-expose-gc")
  }
}

/**
 * The process's resident memory (bytes). The heap's own figures miss what is at stake: V8
 * pools the pages a collection frees, still resident, outside the heap's committed size.
 */
export const residentBytes = (): number => process.memoryUsage.rss()

export interface ReleaseRule {
  /** Resident memory grew at least this many bytes since it last settled (a small growth is not worth a pause). */
  readonly minBytes: number
  /**
   * The event loop was busy at most this share of the last interval (a pass, busy nearly all
   * the time, is not interrupted). Not much lower: a daemon at 10,000 rooms keeps its state
   * cache fresh, a few room reads a second, persisted, and at 0.2 it was never released
   * (measured: 516 MiB resident for 9,608 rooms, 191 MiB once released).
   */
  readonly maxUtilization: number
  /**
   * At least this long since the last release: a long pass that mostly waits for the
   * homeserver looks idle between its reads, and is not released over and over.
   */
  readonly minIntervalMs: number
}

export const defaultReleaseRule: ReleaseRule = { minBytes: 32 * 2 ** 20, maxUtilization: 0.5, minIntervalMs: 30_000 }

/** Whether to give the heap back now (pure: the loop's decision, tested on its own). */
export const shouldRelease = (
  sample: {
    readonly resident: number
    readonly settled: number
    readonly utilization: number
    readonly sinceReleaseMs: number
  },
  rule: ReleaseRule = defaultReleaseRule,
): boolean =>
  sample.resident - sample.settled >= rule.minBytes &&
  sample.utilization <= rule.maxUtilization &&
  sample.sinceReleaseMs >= rule.minIntervalMs

/** What one release did (resident memory before and after), for the log. */
export interface Released {
  readonly beforeBytes: number
  readonly afterBytes: number
  readonly pauseMs: number
}

/** One compacting collection that gives the free heap back; synchronous (the pause is measured). */
export const releaseHeap = (gc: CollectGarbage): Released => {
  const beforeBytes = residentBytes()
  const started = performance.now()
  gc({ type: "major", execution: "sync", flavor: "last-resort" })
  return { beforeBytes, afterBytes: residentBytes(), pauseMs: performance.now() - started }
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`

/**
 * The daemon's loop (RELEASE_IDLE_HEAP): every `every`, when resident memory has grown by
 * 32 MiB since it last settled, the event loop was at most half busy over that interval and the
 * last release is 30 s old, one release. It settles at what the release leaves, or at the
 * lowest seen since, so memory V8 gives back by itself counts too. Runs until interrupted.
 */
export const releaseIdleHeap = (every: Duration.DurationInput = "10 seconds", rule: ReleaseRule = defaultReleaseRule) =>
  Effect.gen(function* () {
    const gc = exposeGc()
    if (gc === undefined) {
      return yield* Effect.logWarning("RELEASE_IDLE_HEAP: this Node cannot expose gc(); the heap is left to V8")
    }
    let settled = residentBytes()
    let releasedAt = Number.NEGATIVE_INFINITY
    let last = performance.eventLoopUtilization()
    while (true) {
      yield* Effect.sleep(Duration.decode(every))
      const now = performance.eventLoopUtilization()
      const utilization = performance.eventLoopUtilization(now, last).utilization
      last = now
      const resident = residentBytes()
      const sinceReleaseMs = performance.now() - releasedAt
      if (!shouldRelease({ resident, settled, utilization, sinceReleaseMs }, rule)) {
        settled = Math.min(settled, resident)
        continue
      }
      const released = releaseHeap(gc)
      settled = released.afterBytes
      releasedAt = performance.now()
      last = performance.eventLoopUtilization()
      // Said each time: the pause the event-loop lag metrics show after a burst, explained.
      yield* Effect.logInfo(
        `idle heap released: resident ${mib(released.beforeBytes)} → ${mib(released.afterBytes)}, ${released.pauseMs.toFixed(0)} ms pause`,
      )
    }
  })
