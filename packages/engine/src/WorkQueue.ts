import { Duration, Effect, FiberSet, Queue, Random, type Scope } from "effect"

/** Why a key was added; keys from real changes go before periodic resync. */
export type AddSource = "change" | "resync" | "retry"

const priority: Record<AddSource, number> = { change: 0, retry: 1, resync: 2 }

export interface BackoffOptions {
  readonly base: Duration.DurationInput
  readonly max: Duration.DurationInput
}

export interface WorkQueue {
  /** Queues a key; a key waits once however often it is added (the best priority wins). */
  readonly add: (key: string, source: AddSource) => Effect.Effect<void>
  /** Waits for the next key and marks it in progress: no other taker gets it until `done`. */
  readonly take: Effect.Effect<string>
  /** The key's work finished; a key added meanwhile is queued again. */
  readonly done: (key: string) => Effect.Effect<void>
  /** The key's work failed: it comes back after per-key exponential backoff with jitter. */
  readonly retry: (key: string) => Effect.Effect<void>
  /** The key succeeded: its backoff starts over. */
  readonly forget: (key: string) => Effect.Effect<void>
  /** Keys waiting (not in progress, not in backoff). */
  readonly depth: Effect.Effect<number>
}

/**
 * A work queue keyed by room, as controller-runtime's: de-duplicates keys, never hands
 * out a key that is in progress, retries with per-key backoff, serves changes first.
 * Backoff timers live in the scope.
 */
export const makeWorkQueue = (backoff: BackoffOptions): Effect.Effect<WorkQueue, never, Scope.Scope> =>
  Effect.gen(function* () {
    const waiting = new Map<string, { source: AddSource; seq: number }>()
    const inProgress = new Set<string>()
    /** Keys added while in progress, with the best source seen. */
    const dirty = new Map<string, AddSource>()
    const failures = new Map<string, number>()
    const timers = yield* FiberSet.make()
    // One tick per key made available; takers wait on it.
    const ticks = yield* Queue.unbounded<void>()
    let seq = 0

    const enqueue = (key: string, source: AddSource): boolean => {
      if (inProgress.has(key)) {
        const before = dirty.get(key)
        if (before === undefined || priority[source] < priority[before]) dirty.set(key, source)
        return false
      }
      const current = waiting.get(key)
      if (current !== undefined) {
        if (priority[source] < priority[current.source]) waiting.set(key, { source, seq: current.seq })
        return false
      }
      waiting.set(key, { source, seq: seq++ })
      return true
    }

    const add = (key: string, source: AddSource) =>
      Effect.suspend(() => (enqueue(key, source) ? Queue.offer(ticks, undefined) : Effect.void)).pipe(Effect.asVoid)

    const next = (): string | undefined => {
      let best: { key: string; source: AddSource; seq: number } | undefined
      for (const [key, entry] of waiting) {
        if (
          best === undefined ||
          priority[entry.source] < priority[best.source] ||
          (priority[entry.source] === priority[best.source] && entry.seq < best.seq)
        ) {
          best = { key, ...entry }
        }
      }
      if (best === undefined) return undefined
      waiting.delete(best.key)
      inProgress.add(best.key)
      return best.key
    }

    const take: Effect.Effect<string> = Effect.gen(function* () {
      while (true) {
        yield* Queue.take(ticks)
        const key = next()
        if (key !== undefined) return key
      }
    })

    const done = (key: string) =>
      Effect.suspend(() => {
        inProgress.delete(key)
        const again = dirty.get(key)
        dirty.delete(key)
        return again === undefined ? Effect.void : add(key, again)
      })

    const retry = (key: string) =>
      Effect.gen(function* () {
        const count = (failures.get(key) ?? 0) + 1
        failures.set(key, count)
        const base = Duration.toMillis(backoff.base)
        const capped = Math.min(base * 2 ** (count - 1), Duration.toMillis(backoff.max))
        // Full jitter in the upper half: spreads retries, never below half the backoff.
        const delay = capped / 2 + (yield* Random.nextRange(0, capped / 2))
        inProgress.delete(key)
        dirty.delete(key)
        yield* FiberSet.run(timers, Effect.sleep(Duration.millis(delay)).pipe(Effect.zipRight(add(key, "retry"))))
      })

    return {
      add,
      take,
      done,
      retry,
      forget: (key) => Effect.sync(() => void failures.delete(key)),
      depth: Effect.sync(() => waiting.size),
    }
  })
