import { describe, expect, it } from "vitest"
import type { DataProblem, DesiredRoom } from "../src/index.ts"
import { explainRoom, explanationToText, planToJson, planToText } from "../src/index.ts"
import { actualRoom, context, desiredRoom, plan, types, u } from "./fixtures.ts"

const ann = u("ann")
const bob = u("bob")
const vic = u("vic")

describe("visitors in public rooms (policy.md §3, publicRoomVisitors)", () => {
  // ann is entitled, bob's own row excludes him, vic has no row at all and has a level.
  const room = (joinRule: "public" | "invite") =>
    desiredRoom([[ann, 0]], { joinRule, excluded: new Map([[bob, "attendee status rejected is not entitled"]]) })
  const actual = (joinRule: "public" | "invite") =>
    actualRoom(
      [
        [ann, "join"],
        [bob, "join"],
        [vic, "join"],
      ],
      { [vic]: 50 },
      { joinRule },
    )

  it("keep (the default): a user without any row stays, at the room's default level; an excluded one goes", () => {
    const result = plan({ _tag: "Desired", room: room("public") }, actual("public"), context())
    expect(types(result.actions)).toEqual(["set_power_levels", `kick ${bob}`])
    const levels = result.actions[0]
    expect(levels?.type === "set_power_levels" && levels.changes).toEqual({ [vic]: { from: 50, to: 0 } })
    expect(result.visitors).toBe(1)
  })

  it("keep: an invited user without a row is left invited (the room is open to them anyway)", () => {
    const result = plan(
      { _tag: "Desired", room: room("public") },
      actualRoom([[vic, "invite", u("mod")]], {}, { joinRule: "public" }),
      context(),
    )
    expect(types(result.actions)).toEqual([`invite ${ann}`])
    expect(result.visitors).toBe(1)
  })

  it("remove: today's behaviour, the visitor is kicked", () => {
    const result = plan(
      { _tag: "Desired", room: room("public") },
      actual("public"),
      context({ publicRoomVisitors: "remove" }),
    )
    expect(types(result.actions)).toEqual(["set_power_levels", `kick ${bob}`, `kick ${vic}`])
    expect(result.visitors).toBeUndefined()
  })

  it("an invite-only room has no visitors: the user without a row is kicked", () => {
    const result = plan({ _tag: "Desired", room: room("invite") }, actual("invite"), context())
    expect(types(result.actions)).toEqual(["set_power_levels", `kick ${bob}`, `kick ${vic}`])
  })

  it("the desired join rule decides: a room being made public keeps its visitors", () => {
    const result = plan({ _tag: "Desired", room: room("public") }, actual("invite"), context())
    expect(types(result.actions)).toEqual(["set_join_rule", "set_power_levels", `kick ${bob}`])
  })

  it("the plan counts visitors (JSON per room and in the summary, text in the summary line)", () => {
    const result = plan({ _tag: "Desired", room: room("public") }, actual("public"), context())
    const json = planToJson({ rooms: [result] })
    expect(json.summary).toMatchObject({ visitors: 1 })
    expect(json.rooms).toMatchObject([{ visitors: 1 }])
    expect(planToText({ rooms: [result] })).toContain("1 visitor (no attendee or member row) left in public rooms.")
  })

  it("explain shows a visitor as such", () => {
    const desired = room("public")
    const found = actual("public")
    const result = plan({ _tag: "Desired", room: desired }, found, context())
    const explained = explainRoom(result, desired, found, context())
    expect(explained.members.find((m) => m.user === vic)).toMatchObject({
      entitled: false,
      standing: "visitor",
      rule: "visitor: in the public room without an attendee or member row (publicRoomVisitors: keep)",
      actions: ["set_power_levels"],
    })
    expect(explained.members.find((m) => m.user === bob)).toMatchObject({ standing: "excluded" })
    expect(explanationToText(vic, [explained])).toContain(
      `${vic}: join, level 50; may stay, at the room's default level — visitor:`,
    )
  })
})

describe("a row that cannot be decided costs only its user (policy.md §5)", () => {
  const problem: DataProblem = {
    tenant: "t1",
    table: "eventAttendees",
    id: "7",
    message: `role id 999 names no eventRoles row; ${bob} is left as is`,
  }
  const untied: DataProblem = {
    tenant: "t1",
    table: "eventAttendees",
    id: "8",
    message: "points at user 80, which does not exist; it names no Matrix user and entitles no one",
  }
  const desired = (joinRule: "public" | "invite" = "invite"): DesiredRoom =>
    desiredRoom([[ann, 0]], {
      joinRule,
      undecided: new Map([[bob, `tenant "t1", eventAttendees id 7: ${problem.message}`]]),
      undecidedRows: [problem, untied],
    })

  it("no invite, no kick, no level change for that user; the others are reconciled; the room is not in error", () => {
    const found = actualRoom(
      [
        [bob, "join"],
        [vic, "join"],
      ],
      { [bob]: 50 },
      { joinRule: "invite" },
    )
    const result = plan({ _tag: "Desired", room: desired() }, found, context())
    expect(types(result.actions)).toEqual([`invite ${ann}`, `kick ${vic}`])
    expect(result.status).toBe("drifted")
    expect(result.conditions).toEqual([
      { type: "undecided", message: `tenant "t1", eventAttendees id 7: ${problem.message}` },
      { type: "undecided", message: `tenant "t1", eventAttendees id 8: ${untied.message}` },
    ])
  })

  it("an undecided user's level is kept as found, even when others' change", () => {
    const found = actualRoom(
      [
        [ann, "join"],
        [bob, "join"],
      ],
      { [bob]: 75, [ann]: 20 },
      { joinRule: "invite" },
    )
    const result = plan({ _tag: "Desired", room: desired() }, found, context())
    const levels = result.actions.find((a) => a.type === "set_power_levels")
    expect(levels?.type === "set_power_levels" && levels.changes).toEqual({ [ann]: { from: 20, to: 0 } })
    expect(levels?.type === "set_power_levels" && levels.content.users).toMatchObject({ [bob]: 75 })
  })

  it("an undecided user absent from the room is not invited, and a room with nothing else to do is in sync", () => {
    const found = actualRoom([[ann, "join"]], {}, { joinRule: "invite" })
    const result = plan({ _tag: "Desired", room: desired() }, found, context())
    expect(result.actions).toEqual([])
    expect(result.status).toBe("in_sync")
    expect(planToText({ rooms: [result] })).toContain(`! undecided: tenant "t1", eventAttendees id 7: role id 999`)
  })

  it("a room created with an undecided row shows the condition too", () => {
    const result = plan({ _tag: "Desired", room: desired() }, undefined, context())
    expect(types(result.actions)).toEqual(["create_room", `invite ${ann}`])
    expect(result.conditions.map((c) => c.type)).toEqual(["undecided", "undecided"])
  })

  it("explain says the user is left as is, and why", () => {
    const found = actualRoom([[bob, "join"]], { [bob]: 50 }, { joinRule: "invite" })
    const result = plan({ _tag: "Desired", room: desired() }, found, context())
    const explained = explainRoom(result, desired(), found, context(), bob)
    expect(explained.members).toEqual([
      {
        user: bob,
        entitled: false,
        standing: "undecided",
        rule: `their row cannot be decided (tenant "t1", eventAttendees id 7: ${problem.message})`,
        desiredLevel: null,
        membership: "join",
        level: 50,
        protected: false,
        actions: [],
      },
    ])
    expect(explanationToText(bob, [explained])).toContain(`${bob}: join, level 50; left as is — their row cannot`)
  })
})
