/** `reconciler explain`: where each user stands in a room and why, as operators read it. */
import { describe, expect, it } from "vitest"
import type { ActualRoom, DesiredRoom } from "../src/index.ts"
import { explainRoom, explanationToText, planRoom } from "../src/index.ts"
import { actualRoom, bot, context, desiredRoom, plan, u } from "./fixtures.ts"

const problems = [{ tenant: "t1", table: "events", id: "42", message: 'unknown status "gone"' }]
const ctx = context({ protectedUsers: [/^@admin:/] })
const explain = (desired: DesiredRoom | undefined, actual: ActualRoom | undefined, only?: string) => {
  const outcome = desired === undefined ? undefined : planRoom({ _tag: "Desired", room: desired }, actual, ctx)
  const roomPlan =
    outcome ?? plan({ _tag: "Failed", key: desiredRoom([]).key, alias: undefined, problems }, actual, ctx)
  return explainRoom(roomPlan, desired, actual, ctx, only)
}

/** Every standing: entitled, excluded, undecided, visitor, not entitled, protected (three ways). */
const desired = desiredRoom([
  [u("host"), 99, "attendee role host"],
  [u("ann"), 0],
])
const everyone = {
  ...desired,
  excluded: new Map([[u("bob"), "attendee status rejected"]]),
  undecided: new Map([[u("cy"), "unknown status"]]),
}
const found = actualRoom(
  [
    [u("host"), "join"],
    [u("bob"), "join"],
    [u("cy"), "invite"],
    [u("vic"), "join"],
    [u("wes"), "invite"],
    [u("dee"), "leave"],
    [u("admin"), "join"],
    ["@remote:elsewhere.org", "join"],
  ],
  { [u("cy")]: 10 },
)

describe("explaining a room", () => {
  it("gives every user the database or Matrix knows their standing, rule and this pass's actions, in id order", () => {
    expect(explanationToText(u("x"), [explain(everyone, found)]).split("\n")).toEqual([
      `Explaining ${u("x")}:`,
      "",
      "event:t1:42  #event-party-t1:example.org !room:example.org  [drifted]",
      `    ${u("admin")}: join, level 0; left as is — matches protectedUsers or the appservice's exclusive user namespace (never kicked, demoted or promoted)`,
      `    ${u("ann")}: not in the room; should be in at level 0 — attendee status confirmed → invite`,
      `    ${u("bob")}: join, level 0; should not be in — attendee status rejected → kick`,
      `    ${u("cy")}: invite, level 10; left as is — their row cannot be decided (unknown status)`,
      `    ${u("dee")}: leave, level 0; should not be in — not entitled to event 42`,
      `    ${u("host")}: join, level 0; should be in at level 99 — attendee role host → set_power_levels`,
      `    ${bot}: join, level 100; left as is — the appservice bot (protected)`,
      "    @remote:elsewhere.org: join, level 0; left as is — on another server (protected)",
      `    ${u("vic")}: join, level 0; may stay, at the room's default level — visitor: in the public room without an attendee or member row (publicRoomVisitors: keep)`,
      `    ${u("wes")}: invite, level 0; may stay, at the room's default level — visitor: in the public room without an attendee or member row (publicRoomVisitors: keep)`,
      "",
    ])
    expect(explain(everyone, found).members.map((m) => [m.user, m.standing, m.entitled])).toEqual([
      [u("admin"), "protected", false],
      [u("ann"), "entitled", true],
      [u("bob"), "excluded", false],
      [u("cy"), "undecided", false],
      [u("dee"), "not_entitled", false],
      [u("host"), "entitled", true],
      [bot, "protected", false],
      ["@remote:elsewhere.org", "protected", false],
      [u("vic"), "visitor", false],
      [u("wes"), "visitor", false],
    ])
  })

  it("one user only, when asked about one", () => {
    expect(explain(everyone, found, u("bob")).members.map((m) => [m.user, m.standing])).toEqual([
      [u("bob"), "excluded"],
    ])
  })

  it("a room whose desired state is unknown: its conditions, and every member's standing unknown", () => {
    const explained = explain(undefined, actualRoom([[u("ann"), "join"]]))
    expect(explained).toEqual({
      key: "event:t1:42",
      alias: null,
      roomId: "!room:example.org",
      status: "error",
      conditions: [{ type: "error", message: 'tenant "t1", events id 42: unknown status "gone"' }],
      members: [
        {
          user: u("ann"),
          entitled: false,
          standing: "unknown",
          rule: "the room's desired state is unknown (see conditions)",
          desiredLevel: null,
          membership: "join",
          level: 0,
          protected: false,
          actions: [],
        },
        expect.objectContaining({ user: bot, standing: "protected" }),
      ],
    })
    expect(explanationToText(u("ann"), [explained]).split("\n").slice(2, 5)).toEqual([
      "event:t1:42  !room:example.org  [error]",
      '    ! error: tenant "t1", events id 42: unknown status "gone"',
      `    ${u("ann")}: join, level 0; should not be in — the room's desired state is unknown (see conditions)`,
    ])
  })

  it("a room to be created: those it gives a level are set in its creation, nobody has a level yet", () => {
    const explained = explain(everyone, undefined)
    expect(explained).toMatchObject({ alias: "#event-party-t1:example.org", roomId: null, status: "missing" })
    expect(explained.members.map((m) => [m.user, m.membership, m.level, m.actions])).toEqual([
      [u("ann"), null, null, ["invite"]],
      [u("bob"), null, null, []],
      [u("cy"), null, null, []],
      [u("host"), null, null, ["create_room", "invite"]],
    ])
    expect(explanationToText(u("host"), [explained])).toContain(
      `${u("host")}: not in the room; should be in at level 99 — attendee role host → create_room, invite`,
    )
  })

  it("marks the actions a safety limit holds, and says so of a user no room knows", () => {
    const ann = desiredRoom([[u("ann"), 0]])
    const actual = actualRoom([])
    const roomPlan = plan({ _tag: "Desired", room: ann }, actual, ctx)
    const gated = { ...roomPlan, actions: roomPlan.actions.map((a) => ({ ...a, held: true as const })) }
    expect(explainRoom(gated, ann, actual, ctx, u("ann")).members.map((m) => m.actions)).toEqual([["invite (held)"]])
    expect(explanationToText(u("zed"), [])).toBe(`${u("zed")}: no managed room has or should have them.`)
  })
})
