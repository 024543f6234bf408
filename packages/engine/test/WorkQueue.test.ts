import { describe, expect, it } from "@effect/vitest"
import { Telemetry } from "@openmeet-reconciler/core"
import { Effect, Fiber, Option, TestClock } from "effect"
import { makeWorkQueue } from "../src/index.ts"

const backoff = { base: "1 second", max: "30 seconds" } as const

/** Takes a key if one is ready now (a take that would wait yields none). */
const takeNow = (take: Effect.Effect<string>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(take)
    yield* Effect.yieldNow()
    const result = yield* Fiber.poll(fiber)
    if (Option.isNone(result)) {
      yield* Fiber.interrupt(fiber)
      return Option.none<string>()
    }
    return Option.some(yield* Fiber.join(fiber))
  })

describe("WorkQueue", () => {
  it.scoped("a key waits once however often it is added", () =>
    Effect.gen(function* () {
      const queue = yield* makeWorkQueue(backoff)
      yield* queue.add("a", "resync")
      yield* queue.add("a", "resync")
      yield* queue.add("a", "change")
      expect(yield* queue.depth).toBe(1)
      expect(yield* queue.take).toBe("a")
      expect(yield* takeNow(queue.take)).toEqual(Option.none())
    }),
  )

  it.scoped("changes go before resync; among equals, who waited longest", () =>
    Effect.gen(function* () {
      const queue = yield* makeWorkQueue(backoff)
      yield* queue.add("r1", "resync")
      yield* queue.add("r2", "resync")
      yield* queue.add("c1", "change")
      yield* queue.add("r2", "change")
      const order = [yield* queue.take, yield* queue.take, yield* queue.take]
      // r2 was queued before c1 and became a change: it keeps its place.
      expect(order).toEqual(["r2", "c1", "r1"])
    }),
  )

  it.scoped("a key in progress is never handed out twice; added meanwhile, it comes back after done", () =>
    Effect.gen(function* () {
      const queue = yield* makeWorkQueue(backoff)
      yield* queue.add("a", "change")
      expect(yield* queue.take).toBe("a")
      yield* queue.add("a", "change")
      expect(yield* queue.depth).toBe(0)
      expect(yield* takeNow(queue.take)).toEqual(Option.none())
      yield* queue.done("a")
      expect(yield* takeNow(queue.take)).toEqual(Option.some("a"))
    }),
  )

  it.scoped("a failed key comes back after exponential backoff with jitter, capped", () =>
    Effect.gen(function* () {
      const queue = yield* makeWorkQueue(backoff)
      // Fails the key (in progress), then measures how long until it can be taken again.
      const comesBackAfter = Effect.gen(function* () {
        yield* queue.retry("a")
        for (let waited = 0; waited <= 60_000; waited += 250) {
          if (Option.isSome(yield* takeNow(queue.take))) return waited
          yield* TestClock.adjust("250 millis")
        }
        return Number.POSITIVE_INFINITY
      })
      yield* queue.add("a", "change")
      expect(yield* queue.take).toBe("a")
      const waits: Array<number> = []
      for (let i = 0; i < 7; i++) waits.push(yield* comesBackAfter)
      const caps = [1000, 2000, 4000, 8000, 16000, 30000, 30000]
      waits.forEach((waited, i) => {
        const cap = caps[i] ?? 0
        expect(waited).toBeGreaterThanOrEqual(cap / 2 - 250)
        expect(waited).toBeLessThanOrEqual(cap)
      })
      // Success resets the backoff.
      yield* queue.forget("a")
      expect(yield* comesBackAfter).toBeLessThanOrEqual(1000)
    }),
  )

  it.scoped("takeBatch waits for one key, then takes what waits, in priority order, and reports to the observer", () =>
    Effect.gen(function* () {
      const adds: Array<string> = []
      const depths: Array<number> = []
      const telemetry = yield* Telemetry
      const queue = yield* makeWorkQueue(backoff).pipe(
        Effect.provideService(Telemetry, {
          ...telemetry,
          queueAdded: (source) => adds.push(source),
          queueDepthChanged: (delta) => depths.push((depths.at(-1) ?? 0) + delta),
        }),
      )
      const waiting = yield* Effect.fork(queue.takeBatch(3))
      yield* Effect.yieldNow()
      yield* queue.add("r1", "resync")
      expect(yield* Fiber.join(waiting)).toEqual(["r1"])
      for (const key of ["r2", "r3", "r4"]) yield* queue.add(key, "resync")
      yield* queue.add("c1", "change")
      expect(yield* queue.takeBatch(3)).toEqual(["c1", "r2", "r3"])
      expect(yield* queue.inProgress).toBe(4)
      expect(yield* queue.depth).toBe(1)
      expect(adds).toEqual(["resync", "resync", "resync", "resync", "change"])
      expect(depths.at(-1)).toBe(1)
    }),
  )
})
