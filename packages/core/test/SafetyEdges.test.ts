/**
 * The safety gate where mutation testing found its tests blind (`pnpm mutation`, surviving
 * mutants of Safety.ts): what counts as a destructive unit, when a tenant looks empty, and
 * what the gate passes through untouched.
 */
import { describe, expect, it } from "vitest"
import type { Limits, PlannedAction, RoomPlan } from "../src/index.ts"
import { defaultPolicy, destructiveUnits, gateTenant, isSuspectEmpty } from "../src/index.ts"
import { gateRoom, u } from "./fixtures.ts"

const limits: Limits = defaultPolicy.limits
const off = { confirmDestructive: false, allowEmpty: false }
const room = gateRoom
const levels = (
  changes: Record<string, { from: number; to: number }>,
  type: "set_power_levels" | "unarchive" = "set_power_levels",
): PlannedAction => ({
  type,
  changes,
  content: { users: {} },
  reason: "roles",
})

describe("destructive units", () => {
  it("a power-levels write costs one unit per lowered level, none for a raised one", () => {
    expect(destructiveUnits(levels({ [u("a")]: { from: 0, to: 50 }, [u("b")]: { from: 50, to: 0 } }))).toBe(1)
    expect(destructiveUnits(levels({ [u("a")]: { from: 0, to: 50 } }))).toBe(0)
  })
})

describe("a suspect-empty tenant", () => {
  it("is one whose rooms have members while nobody is entitled to any of them", () => {
    const tenant = (rooms: ReadonlyArray<RoomPlan>) => ({ tenant: "t1", limits, rooms })
    expect(isSuspectEmpty(tenant([room("1", [], 3, 0), room("2", [], 0, 0)]))).toBe(true)
    // Nobody in Matrix either: nothing to protect.
    expect(isSuspectEmpty(tenant([room("1", [], 0, 0)]))).toBe(false)
    // Someone is entitled somewhere: the data reads.
    expect(isSuspectEmpty(tenant([room("1", [], 3, 0), room("2", [], 2, 2)]))).toBe(false)
  })
})

describe("the gate passes what it does not hold untouched", () => {
  it("an invite next to a held kick stays in the room's actions", () => {
    const invite: PlannedAction = { type: "invite", user: u("n"), reason: "entitled" }
    const kick: PlannedAction = { type: "kick", user: u("x"), reason: "not entitled" }
    const { rooms } = gateTenant({ tenant: "t1", limits, rooms: [room("1", [invite, kick], 10)], budget: 0 }, off)
    expect(rooms[0]?.actions).toEqual([invite, { ...kick, held: true }])
  })

  it("a demotion within the budget leaves its write whole: one action, not held", () => {
    const write = levels({ [u("a")]: { from: 50, to: 0 } })
    const { rooms, units } = gateTenant({ tenant: "t1", limits, rooms: [room("1", [write], 10)] }, off)
    expect(rooms[0]?.actions).toEqual([write])
    expect(units).toBe(1)
  })

  it("a write whose only change is a held demotion becomes the held part alone, no empty write before it", () => {
    const write = levels({ [u("a")]: { from: 50, to: 0 } })
    const { rooms } = gateTenant({ tenant: "t1", limits, rooms: [room("1", [write], 10)], budget: 0 }, off)
    expect(rooms[0]?.actions).toEqual([{ ...write, held: true }])
  })

  it("an unarchive whose demotion is held keeps its type in the held part", () => {
    const write = levels({ [u("a")]: { from: 50, to: 0 }, [u("b")]: { from: 0, to: 50 } }, "unarchive")
    const { rooms } = gateTenant({ tenant: "t1", limits, rooms: [room("1", [write], 10)], budget: 0 }, off)
    expect(rooms[0]?.actions.map((a) => [a.type, a.held === true])).toEqual([
      ["unarchive", false],
      ["unarchive", true],
    ])
  })
})
