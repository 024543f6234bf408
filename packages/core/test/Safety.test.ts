import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import type { Limits, PlannedAction, RoomPlan } from "../src/index.ts"
import { applySafety, defaultPolicy, destructiveUnits, gateTenant } from "../src/index.ts"
import { gateRoom, u } from "./fixtures.ts"

const limits: Limits = defaultPolicy.limits
const kick = (name: string): PlannedAction => ({ type: "kick", user: u(name), reason: "not entitled" })
const invite = (name: string): PlannedAction => ({ type: "invite", user: u(name), reason: "entitled" })
const room = gateRoom
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

  it("an archive counts against the caps and is held for a tenant that looks empty", () => {
    const archive: PlannedAction = { type: "archive", changes: {}, content: { events_default: 50 }, reason: "gone" }
    const rooms = [room("1", [archive], 3, 0)]
    expect(held(applySafety([{ tenant: "t1", limits, rooms }], off))).toEqual(["archive"])
    const spent = gateTenant({ tenant: "t1", limits, rooms: [room("1", [archive], 3)], budget: 1 }, off)
    expect(spent.units).toBe(1)
    expect(held(gateTenant({ tenant: "t1", limits, rooms: [room("1", [archive], 3)], budget: 0 }, off).rooms)).toEqual([
      "archive",
    ])
  })

  it("spends only the budget it is given, and reports what it let through", () => {
    const rooms = [room("1", [kick("a"), kick("b"), kick("c")], 30)]
    const gated = gateTenant({ tenant: "t1", limits, rooms, budget: 2 }, off)
    expect(gated.units).toBe(2)
    expect(held(gated.rooms)).toEqual([`kick ${u("c")}`])
  })

  it("judges emptiness on the tenant's whole desired state when told, not on the rooms at hand", () => {
    // A batch of one room whose last entitled person left: the tenant as a whole is not empty.
    const rooms = [room("1", [kick("a")], 1, 0)]
    expect(held(gateTenant({ tenant: "t1", limits, rooms, desiredEmpty: false }, off).rooms)).toEqual([])
    expect(
      held(gateTenant({ tenant: "t1", limits, rooms: [room("1", [kick("a")], 1, 3)], desiredEmpty: true }, off).rooms),
    ).toEqual([`kick ${u("a")}`])
  })

  it("caps are never exceeded, whatever the plan (property)", () => {
    const arbitraryRoom = fc.record({
      kicks: fc.integer({ min: 0, max: 15 }),
      demotions: fc.integer({ min: 0, max: 4 }),
      archive: fc.boolean(),
      members: fc.integer({ min: 0, max: 60 }),
    })
    fc.assert(
      fc.property(fc.array(arbitraryRoom, { maxLength: 12 }), fc.integer({ min: 0, max: 30 }), (specs, perPass) => {
        const rooms = specs.map((spec, i) => {
          const changes = Object.fromEntries(
            Array.from({ length: spec.demotions }, (_, j) => [u(`d${i}-${j}`), { from: 50, to: 0 }]),
          )
          const type = spec.archive ? ("archive" as const) : ("set_power_levels" as const)
          const actions: Array<PlannedAction> = [
            ...(spec.demotions > 0 || spec.archive ? [{ type, changes, content: {}, reason: "r" }] : []),
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
          const spec = specs[i]
          expect(all).toBe((spec?.kicks ?? 0) + (spec?.demotions ?? 0) + (spec?.archive === true ? 1 : 0))
          expect(applied).toBeLessThanOrEqual(Math.max(5, Math.floor(0.2 * (specs[i]?.members ?? 0))))
          total += applied
        }
        expect(total).toBeLessThanOrEqual(perPass)
      }),
      { numRuns: 300 },
    )
  })
})
