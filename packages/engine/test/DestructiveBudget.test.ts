import { describe, expect, it } from "@effect/vitest"
import type { RoomPlan, TenantPlan } from "@openmeet-reconciler/core"
import { defaultPolicy, roomKey } from "@openmeet-reconciler/core"
import { Effect, Random, TestClock } from "effect"
import { DestructiveBudget, makeBudget } from "../src/index.ts"

const limit = 5
const safety = { confirmDestructive: false, allowEmpty: false } as const

/** A room of tenant `t` with `kicks` users to kick; enough members that only the tenant's budget limits it. */
const kickRoom = (id: number, kicks = 1): RoomPlan => ({
  key: roomKey("t", "event", String(id)),
  alias: `#event-e${id}-t:openmeet.test`,
  roomId: `!r${id}:openmeet.test`,
  status: "drifted",
  actions: Array.from({ length: kicks }, (_, i) => ({
    type: "kick" as const,
    user: `@t.u${id}-${i}:openmeet.test`,
    reason: "attendee status rejected is not entitled",
  })),
  conditions: [],
  memberCount: 100,
  entitledCount: 1,
})

/** One batch of rooms of tenant `t`, as a worker gates it. */
const batch = (...rooms: ReadonlyArray<RoomPlan>): TenantPlan => ({
  tenant: "t",
  limits: { ...defaultPolicy.limits, maxDestructivePerPass: limit, maxDestructivePerRoom: 10 },
  rooms,
})

const heldKicks = (rooms: ReadonlyArray<RoomPlan>) =>
  rooms.flatMap((room) => room.actions).filter((action) => action.held === true).length

describe("DestructiveBudget", () => {
  it.effect("gates racing in many fibers reserve the limit exactly, once; refunds make units available again", () =>
    Effect.gen(function* () {
      const budget = makeBudget("1 hour")
      // Each fiber yields before its gate, so all of them are in flight together.
      const gateAll = (ids: ReadonlyArray<number>) =>
        Effect.forEach(ids, (id) => Effect.zipRight(Effect.yieldNow(), budget.gate(batch(kickRoom(id)), safety)), {
          concurrency: "unbounded",
        })
      const first = yield* gateAll(Array.from({ length: 20 }, (_, i) => i))
      expect(first.reduce((n, gated) => n + gated.units, 0)).toBe(limit)
      expect(first.filter((gated) => heldKicks(gated.rooms) === 1)).toHaveLength(20 - limit)
      expect(yield* budget.spent("t")).toBe(limit)

      // Two of the five kicks failed: their units go back, and exactly two more get through.
      const window = first[0]?.reservation.window ?? 0
      yield* Effect.all([budget.refund("t", { units: 1, window }), budget.refund("t", { units: 1, window })], {
        concurrency: "unbounded",
      })
      expect(yield* budget.spent("t")).toBe(limit - 2)
      const second = yield* gateAll(Array.from({ length: 20 }, (_, i) => 100 + i))
      expect(second.reduce((n, gated) => n + gated.units, 0)).toBe(2)
      expect(yield* budget.spent("t")).toBe(limit)
      // Another tenant's budget is its own.
      const other = yield* budget.gate({ ...batch(kickRoom(1)), tenant: "u" }, safety)
      expect(other.units).toBe(1)
    }),
  )

  it.live(
    "fibers that gate, apply for a while and sometimes fail never have more than the limit applied or in flight",
    () =>
      Effect.gen(function* () {
        const budget = makeBudget("1 hour")
        let inFlight = 0
        let applied = 0
        let refunded = 0
        let highest = 0
        // Each room is tried until its kicks get through or the window's units are all applied;
        // its first attempt fails and gives its units back.
        const room = (id: number) =>
          Effect.gen(function* () {
            for (let attempt = 0; attempt < 1000 && applied < limit; attempt++) {
              const gated = yield* budget.gate(batch(kickRoom(id, 2)), safety)
              if (gated.units === 0) {
                yield* Effect.sleep("1 millis")
                continue
              }
              inFlight += gated.units
              highest = Math.max(highest, applied + inFlight)
              yield* Effect.sleep(`${yield* Random.nextIntBetween(1, 5)} millis`)
              inFlight -= gated.units
              if (attempt === 0) {
                refunded += gated.units
                yield* budget.refund("t", gated.reservation)
              } else {
                applied += gated.units
                return
              }
            }
          })
        yield* Effect.forEach(
          Array.from({ length: 30 }, (_, i) => i),
          room,
          { concurrency: "unbounded", discard: true },
        )
        expect(highest).toBeLessThanOrEqual(limit)
        expect(applied).toBe(limit)
        expect(yield* budget.spent("t")).toBe(applied)
        // Units given back were reserved again: more than the limit in all, never more at once.
        expect(refunded).toBeGreaterThan(0)
      }),
  )

  it.effect("a batch of several rooms gets what is left, in plan order; the window starts over after its length", () =>
    Effect.gen(function* () {
      const budget = makeBudget("10 minutes")
      expect((yield* budget.gate(batch(kickRoom(1, 3)), safety)).units).toBe(3)
      yield* TestClock.adjust("9 minutes")
      const gated = yield* budget.gate(batch(kickRoom(2, 1), kickRoom(3, 2), kickRoom(4, 1)), safety)
      expect(gated.units).toBe(2)
      expect(gated.rooms.map((room) => room.actions.map((action) => action.held === true))).toEqual([
        [false],
        [false, true],
        [true],
      ])
      // The preview reserves nothing.
      expect((yield* budget.preview(batch(kickRoom(5)), safety)).units).toBe(0)
      expect(yield* budget.spent("t")).toBe(limit)
      yield* TestClock.adjust("1 minute")
      expect(yield* budget.spent("t")).toBe(0)
      expect((yield* budget.preview(batch(kickRoom(6)), safety)).units).toBe(1)
      expect((yield* budget.gate(batch(kickRoom(7, 7)), safety)).units).toBe(limit)
    }),
  )

  it.effect("units refunded after their window ended go to no window: the next one is never credited", () =>
    Effect.gen(function* () {
      const budget = makeBudget("10 minutes")
      const early = yield* budget.gate(batch(kickRoom(1, limit)), safety)
      expect(early.units).toBe(limit)
      yield* TestClock.adjust("11 minutes")
      const next = yield* budget.gate(batch(kickRoom(2, limit)), safety)
      expect(next.units).toBe(limit)
      // The first window's actions failed only now: their units belong to a window that is over.
      yield* budget.refund("t", early.reservation)
      expect(yield* budget.spent("t")).toBe(limit)
      expect((yield* budget.gate(batch(kickRoom(3)), safety)).units).toBe(0)
      // Refunds within their own window still count.
      yield* budget.refund("t", { units: 1, window: next.reservation.window })
      expect((yield* budget.gate(batch(kickRoom(4)), safety)).units).toBe(1)
    }),
  )

  it.effect("a tenant's smaller budget for this run caps the gate below what the window has left", () =>
    Effect.gen(function* () {
      const budget = makeBudget("1 hour")
      expect((yield* budget.gate({ ...batch(kickRoom(1, limit)), budget: 2 }, safety)).units).toBe(2)
      expect(yield* budget.spent("t")).toBe(2)
    }),
  )

  it.effect("a gate that lets nothing through starts no window: the window starts with the first unit spent", () =>
    Effect.gen(function* () {
      const budget = makeBudget("10 minutes")
      const nothing = yield* budget.gate(batch(), safety)
      expect(nothing.units).toBe(0)
      // Reserved: nothing, in the window it would have been (none is open: the time of asking).
      expect(nothing.reservation).toEqual({ units: 0, window: 0 })
      yield* TestClock.adjust("9 minutes")
      expect((yield* budget.gate(batch(kickRoom(1, limit)), safety)).units).toBe(limit)
      // Ten minutes after the empty gate, the window that began with the kicks still holds.
      yield* TestClock.adjust("2 minutes")
      expect(yield* budget.spent("t")).toBe(limit)
      expect((yield* budget.gate(batch(kickRoom(2)), safety)).units).toBe(0)
    }),
  )

  it.effect("a refund when no window is open credits nothing", () =>
    Effect.gen(function* () {
      const budget = makeBudget("10 minutes")
      const early = yield* budget.gate(batch(kickRoom(1, 2)), safety)
      yield* TestClock.adjust("11 minutes")
      yield* budget.refund("t", early.reservation)
      expect(yield* budget.spent("t")).toBe(0)
      expect((yield* budget.gate(batch(kickRoom(2, limit)), safety)).units).toBe(limit)
    }),
  )

  it.effect("the daemon's layer gives one budget, shared by whoever gates", () =>
    Effect.gen(function* () {
      const first = yield* DestructiveBudget
      yield* first.gate(batch(kickRoom(1, 3)), safety)
      const second = yield* DestructiveBudget
      expect(yield* second.spent("t")).toBe(3)
    }).pipe(Effect.provide(DestructiveBudget.layer("1 hour"))),
  )
})
