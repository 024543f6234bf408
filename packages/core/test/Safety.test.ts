import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import type { Limits, PlannedAction, RoomPlan } from "../src/index.ts"
import { applySafety, defaultPolicy, destructiveUnits, roomKey } from "../src/index.ts"
import { u } from "./fixtures.ts"

const limits: Limits = defaultPolicy.limits
const kick = (name: string): PlannedAction => ({ type: "kick", user: u(name), reason: "not entitled" })
const invite = (name: string): PlannedAction => ({ type: "invite", user: u(name), reason: "entitled" })
const room = (id: string, actions: ReadonlyArray<PlannedAction>, memberCount: number, entitledCount = 1): RoomPlan => ({
  key: roomKey("t1", "event", id),
  alias: undefined,
  roomId: `!${id}:example.org`,
  status: "drifted",
  actions,
  conditions: [],
  memberCount,
  entitledCount,
})
const held = (plans: ReadonlyArray<RoomPlan>) =>
  plans.flatMap((r) =>
    r.actions.filter((a) => a.held === true).map((a) => ("user" in a ? `${a.type} ${a.user}` : a.type)),
  )
const off = { confirmDestructive: false, allowEmpty: false }

describe("destructive caps (policy.md §5)", () => {
  it("holds kicks beyond the larger of 5 and 20% of a room's members", () => {
    const kicks = ["a", "b", "c", "d", "e", "f", "g"].map(kick)
    expect(held(applySafety([{ tenant: "t1", limits, rooms: [room("1", kicks, 20)] }], off))).toEqual([
      `kick ${u("f")}`,
      `kick ${u("g")}`,
    ])
    // 20% of 40 members is 8: all seven go.
    expect(held(applySafety([{ tenant: "t1", limits, rooms: [room("1", kicks, 40)] }], off))).toEqual([])
  })

  it("holds destructive actions beyond the per-pass cap, in plan order, and never holds invites", () => {
    const rooms = [1, 2, 3].map((i) => room(String(i), [invite(`n${i}`), kick(`x${i}`), kick(`y${i}`)], 10))
    const tight = { ...limits, maxDestructivePerPass: 3 }
    expect(held(applySafety([{ tenant: "t1", limits: tight, rooms }], off))).toEqual([
      `kick ${u("y2")}`,
      `kick ${u("x3")}`,
      `kick ${u("y3")}`,
    ])
  })

  it("splits a power-levels write: promotions go, demotions over the cap wait, users keep their level", () => {
    const action: PlannedAction = {
      type: "set_power_levels",
      changes: { [u("a")]: { from: 50, to: 0 }, [u("b")]: { from: 50, to: 0 }, [u("c")]: { from: 0, to: 50 } },
      content: { users: { [u("c")]: 50 } },
      reason: "roles",
    }
    const [result] = applySafety(
      [{ tenant: "t1", limits: { ...limits, maxDestructivePerPass: 1 }, rooms: [room("1", [action], 10)] }],
      off,
    )
    expect(result?.actions).toEqual([
      {
        ...action,
        changes: { [u("a")]: { from: 50, to: 0 }, [u("c")]: { from: 0, to: 50 } },
        content: { users: { [u("c")]: 50, [u("b")]: 50 } },
      },
      { ...action, changes: { [u("b")]: { from: 50, to: 0 } }, held: true },
    ])
  })

  it("--confirm-destructive holds nothing", () => {
    const kicks = ["a", "b", "c", "d", "e", "f", "g"].map(kick)
    expect(
      held(applySafety([{ tenant: "t1", limits, rooms: [room("1", kicks, 0)] }], { ...off, confirmDestructive: true })),
    ).toEqual([])
  })

  it("a tenant that should be empty while Matrix is not has every destructive action held, unless --allow-empty", () => {
    const rooms = [room("1", [kick("a")], 3, 0), room("2", [kick("b")], 2, 0)]
    expect(held(applySafety([{ tenant: "t1", limits, rooms }], off))).toEqual([`kick ${u("a")}`, `kick ${u("b")}`])
    expect(held(applySafety([{ tenant: "t1", limits, rooms }], { ...off, allowEmpty: true }))).toEqual([])
  })

  it("caps are never exceeded, whatever the plan (property)", () => {
    const arbitraryRoom = fc.record({
      kicks: fc.integer({ min: 0, max: 15 }),
      demotions: fc.integer({ min: 0, max: 4 }),
      members: fc.integer({ min: 0, max: 60 }),
    })
    fc.assert(
      fc.property(fc.array(arbitraryRoom, { maxLength: 12 }), fc.integer({ min: 0, max: 30 }), (specs, perPass) => {
        const rooms = specs.map((spec, i) => {
          const changes = Object.fromEntries(
            Array.from({ length: spec.demotions }, (_, j) => [u(`d${i}-${j}`), { from: 50, to: 0 }]),
          )
          const actions: Array<PlannedAction> = [
            ...(spec.demotions > 0 ? [{ type: "set_power_levels" as const, changes, content: {}, reason: "r" }] : []),
            ...Array.from({ length: spec.kicks }, (_, j) => kick(`k${i}-${j}`)),
          ]
          return room(String(i), actions, spec.members)
        })
        const capped = { ...limits, maxDestructivePerPass: perPass }
        const result = applySafety([{ tenant: "t1", limits: capped, rooms }], off)
        let total = 0
        for (const [i, planned] of result.entries()) {
          const applied = planned.actions.filter((a) => a.held !== true).reduce((n, a) => n + destructiveUnits(a), 0)
          const all = planned.actions.reduce((n, a) => n + destructiveUnits(a), 0)
          expect(all).toBe((specs[i]?.kicks ?? 0) + (specs[i]?.demotions ?? 0))
          expect(applied).toBeLessThanOrEqual(Math.max(5, Math.floor(0.2 * (specs[i]?.members ?? 0))))
          total += applied
        }
        expect(total).toBeLessThanOrEqual(perPass)
      }),
      { numRuns: 300 },
    )
  })
})
