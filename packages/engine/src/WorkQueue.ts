import type { QueueSource } from "@openmeet-reconciler/core"
import { Telemetry } from "@openmeet-reconciler/core"
import { Context, Duration, Effect, FiberSet, Layer, Queue, Random, type Scope } from "effect"

/** Why a key was added; keys from real changes go before periodic resync. */
export type AddSource = QueueSource

const priority: Record<AddSource, number> = { change: 0, retry: 1, resync: 2 }

export interface BackoffOptions {
  readonly base: Duration.DurationInput
  readonly max: Duration.DurationInput
}

export interface WorkQueueService {
  /** Queues a key; a key waits once however often it is added (the best priority wins). */
  readonly add: (key: string, source: AddSource) => Effect.Effect<void>
  /** Waits for the next key and marks it in progress: no other taker gets it until `done`. */
  readonly take: Effect.Effect<string>
  /** Waits for a key, then takes up to `max` keys that are waiting (one batch for a worker). */
  readonly takeBatch: (max: number) => Effect.Effect<ReadonlyArray<string>>
  /** The key's work finished; a key added meanwhile is queued again. */
  readonly done: (key: string) => Effect.Effect<void>
  /** The key's work failed: it comes back after per-key exponential backoff with jitter. */
  readonly retry: (key: string) => Effect.Effect<void>
  /** The key succeeded: its backoff starts over. */
  readonly forget: (key: string) => Effect.Effect<void>
  /** Keys waiting (not in progress, not in backoff). */
  readonly depth: Effect.Effect<number>
  /** Keys in progress. */
  readonly inProgress: Effect.Effect<number>
  /** Whether a worker has this key now. */
  readonly isInProgress: (key: string) => boolean
}

interface Waiting {
  readonly seq: number
  readonly since: number
}

/**
 * A work queue keyed by room, as controller-runtime's: de-duplicates keys, never hands
 * out a key that is in progress, retries with per-key backoff, serves changes first.
 * Backoff timers live in the scope.
 */
export const makeWorkQueue = (backoff: BackoffOptions): Effect.Effect<WorkQueueService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const telemetry = yield* Telemetry
    // One FIFO per priority (a Map iterates in insertion order): taking the next key is O(1).
    const lanes: Array<Map<string, Waiting>> = [new Map(), new Map(), new Map()]
    const sourceOf = new Map<string, AddSource>()
    const inProgress = new Set<string>()
    /** Keys added while in progress, with the best source seen. */
    const dirty = new Map<string, AddSource>()
    const failures = new Map<string, number>()
    const timers = yield* FiberSet.make()
    // One tick per key made available; takers wait on it.
    const ticks = yield* Queue.unbounded<void>()
    const lane = (source: AddSource) => lanes[priority[source]] ?? new Map<string, Waiting>()
    let seq = 0
    const depth = () => sourceOf.size
    // The gauge sums every queue (one per tenant led): this one reports what it adds to it.
    let reported = 0
    const reportDepth = () => {
      const now = depth()
      telemetry.queueDepthChanged(now - reported)
      reported = now
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => telemetry.queueDepthChanged(-reported)))

    const enqueue = (key: string, source: AddSource): boolean => {
      telemetry.queueAdded(source)
      if (inProgress.has(key)) {
        const before = dirty.get(key)
        if (before === undefined || priority[source] < priority[before]) dirty.set(key, source)
        return false
      }
      const current = sourceOf.get(key)
      if (current !== undefined) {
        if (priority[source] < priority[current]) {
          const entry = lane(current).get(key) ?? { seq: seq++, since: performance.now() }
          lane(current).delete(key)
          // It keeps its place among the keys of its new priority: who waited longest goes first.
          const target = lane(source)
          const reordered = new Map<string, Waiting>()
          let placed = false
          for (const [other, waiting] of target) {
            if (!placed && waiting.seq > entry.seq) {
              reordered.set(key, entry)
              placed = true
            }
            reordered.set(other, waiting)
          }
          if (!placed) reordered.set(key, entry)
          lanes[priority[source]] = reordered
          sourceOf.set(key, source)
        }
        return false
      }
      lane(source).set(key, { seq: seq++, since: performance.now() })
      sourceOf.set(key, source)
      reportDepth()
      return true
    }

    const add = (key: string, source: AddSource) =>
      Effect.suspend(() => (enqueue(key, source) ? Queue.offer(ticks, undefined) : Effect.void)).pipe(Effect.asVoid)

    const next = (): string | undefined => {
      for (const waiting of lanes) {
        for (const [key, { since }] of waiting) {
          waiting.delete(key)
          sourceOf.delete(key)
          inProgress.add(key)
          telemetry.queueTaken((performance.now() - since) / 1000)
          reportDepth()
          return key
        }
      }
      return undefined
    }

    const take: Effect.Effect<string> = Effect.gen(function* () {
      while (true) {
        yield* Queue.take(ticks)
        const key = next()
        if (key !== undefined) return key
      }
    })

    const takeBatch = (max: number): Effect.Effect<ReadonlyArray<string>> =>
      Effect.gen(function* () {
        const first = yield* take
        const batch = [first]
        while (batch.length < max) {
          const tick = yield* Queue.poll(ticks)
          if (tick._tag === "None") break
          const key = next()
          if (key !== undefined) batch.push(key)
        }
        return batch
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
        telemetry.queueRetried()
        yield* FiberSet.run(timers, Effect.sleep(Duration.millis(delay)).pipe(Effect.zipRight(add(key, "retry"))))
      })

    return {
      add,
      take,
      takeBatch,
      done,
      retry,
      forget: (key) => Effect.sync(() => void failures.delete(key)),
      depth: Effect.sync(depth),
      inProgress: Effect.sync(() => inProgress.size),
      isInProgress: (key) => inProgress.has(key),
    }
  })

/** The controller's queue of room keys, for as long as it leads. */
export class WorkQueue extends Context.Tag("@openmeet-reconciler/engine/WorkQueue")<WorkQueue, WorkQueueService>() {
  static readonly layer = (backoff: BackoffOptions) => Layer.scoped(WorkQueue, makeWorkQueue(backoff))
}
