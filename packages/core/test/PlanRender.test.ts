/** The plan as operators read it (`plan` text) and as tools read it (`plan --output json`). */
import { describe, expect, it } from "vitest"
import type { JoinRule, PlannedAction, RoomPlan } from "../src/index.ts"
import { planToJson, planToText, roomKey } from "../src/index.ts"
import { alias, desiredRoom, u } from "./fixtures.ts"

const room = (
  id: string,
  status: RoomPlan["status"],
  actions: ReadonlyArray<PlannedAction>,
  rest: Partial<RoomPlan> = {},
): RoomPlan => ({
  key: roomKey("t1", "event", id),
  alias,
  roomId: `!${id}:example.org`,
  status,
  actions,
  conditions: [],
  memberCount: 0,
  entitledCount: 0,
  ...rest,
})

const why = "policy"
const content = { users: {} }

/** A create_room action with desiredRoom's settings. */
const createRoom = (joinRule: JoinRule, users: Readonly<Record<string, number>>): PlannedAction => {
  const { name, historyVisibility, guestAccess } = desiredRoom([])
  return { type: "create_room", alias, name, joinRule, historyVisibility, guestAccess, users, reason: why }
}

describe("the plan as text", () => {
  it("one block per room needing attention: its actions signed, its conditions, then the summary", () => {
    const plan = {
      rooms: [
        room("1", "missing", [createRoom("invite", { [u("host")]: 99, [u("mod")]: 50 })]),
        room(
          "2",
          "drifted",
          [
            { type: "set_name", from: null, to: "Party", reason: why },
            { type: "set_name", from: "Old", to: "Party", reason: why },
            { type: "set_join_rule", from: null, to: "public", reason: why },
            { type: "set_history_visibility", from: "joined", to: "shared", reason: why },
            { type: "set_guest_access", from: null, to: "forbidden", reason: why },
            { type: "set_canonical_alias", from: null, to: alias, altAliases: [], reason: why },
            { type: "add_alias", alias, reason: why },
            { type: "add_alias", alias, from: "!old:example.org", reason: why },
            { type: "set_power_levels", changes: { [u("ann")]: { from: 0, to: 50 } }, content, reason: why },
            { type: "invite", user: u("ann"), reason: "attendee" },
            { type: "join", user: u("bob"), reason: "member" },
            { type: "kick", user: u("eve"), reason: "not entitled", held: true },
          ],
          { conditions: [{ type: "banned", message: `${u("mal")} is banned; left alone` }], visitors: 2 },
        ),
        room("3", "drifted", [
          { type: "set_power_levels", changes: { [u("ann")]: { from: 50, to: 0 } }, content, reason: why },
        ]),
        room("4", "drifted", [{ type: "archive", changes: {}, content, reason: why }]),
        room("5", "drifted", [
          { type: "unarchive", changes: { [u("ann")]: { from: 0, to: 25 } }, content, reason: why },
        ]),
        room("6", "drifted", [{ type: "archive", changes: { [u("ann")]: { from: 25, to: 0 } }, content, reason: why }]),
        room("7", "drifted", [{ type: "unarchive", changes: {}, content, reason: why }]),
        room("8", "blocked", [], {
          alias: undefined,
          conditions: [{ type: "blocked", message: "bot lacks power" }],
        }),
        room("9", "error", [], { roomId: undefined, conditions: [{ type: "error", message: "bad row" }] }),
        room("10", "in_sync", []),
      ],
    }
    expect(planToText(plan).split("\n")).toEqual([
      `+ event:t1:1  ${alias} !1:example.org  [missing]`,
      `    + create room ${alias} "Party", join rule invite, levels ${u("host")}=99 ${u("mod")}=50`,
      "",
      `~ event:t1:2  ${alias} !2:example.org  [drifted]`,
      '    ~ name (none) → "Party"',
      '    ~ name "Old" → "Party"',
      "    ~ join rule (none) → public",
      "    ~ history visibility joined → shared",
      "    ~ guest access (none) → forbidden",
      `    ~ canonical alias (none) → ${alias}`,
      `    + add alias ${alias}`,
      `    + move alias ${alias} from !old:example.org`,
      `    ~ power levels ${u("ann")} 0 → 50`,
      `    + invite ${u("ann")} (attendee)`,
      `    + join ${u("bob")} (member)`,
      `    - kick ${u("eve")} (not entitled)   (held: safety limit)`,
      `    ! banned: ${u("mal")} is banned; left alone`,
      "",
      `~ event:t1:3  ${alias} !3:example.org  [drifted]`,
      `    - power levels ${u("ann")} 50 → 0`,
      "",
      `~ event:t1:4  ${alias} !4:example.org  [drifted]`,
      "    ~ archive: only level 50 and up may post",
      "",
      `~ event:t1:5  ${alias} !5:example.org  [drifted]`,
      `    ~ unarchive: everyone may post again; power levels ${u("ann")} 0 → 25`,
      "",
      `~ event:t1:6  ${alias} !6:example.org  [drifted]`,
      `    - archive: only level 50 and up may post; power levels ${u("ann")} 25 → 0`,
      "",
      `~ event:t1:7  ${alias} !7:example.org  [drifted]`,
      "    ~ unarchive: everyone may post again",
      "",
      "! event:t1:8  !8:example.org  [blocked]",
      "    ! blocked: bot lacks power",
      "",
      `! event:t1:9  ${alias}  [error]`,
      "    ! error: bad row",
      "",
      "Plan: 18 actions (1 create_room, 2 set_name, 1 set_join_rule, 1 set_history_visibility, 1 set_guest_access, 2 add_alias, 1 set_canonical_alias, 2 set_power_levels, 2 archive, 2 unarchive, 1 invite, 1 join, 1 kick) in 7 rooms. 1 held by safety limits. Rooms: 10 managed, 1 in sync, 6 drifted, 1 missing, 1 blocked, 1 with errors. 2 visitors (no attendee or member row) left in public rooms.",
    ])
  })

  it("a room created without levels, a setting from nothing, several level changes, a lowering unarchive", () => {
    const create = createRoom("public", {})
    const changes = { [u("ann")]: { from: 25, to: 0 }, [u("bob")]: { from: 0, to: 50 } }
    const drifted = room("2", "drifted", [
      { type: "set_history_visibility", from: null, to: "shared", reason: why },
      { type: "unarchive", changes, content, reason: why },
    ])
    expect(planToText({ rooms: [room("1", "missing", [create]), drifted] }).split("\n")).toEqual([
      `+ event:t1:1  ${alias} !1:example.org  [missing]`,
      `    + create room ${alias} "Party", join rule public`,
      "",
      `~ event:t1:2  ${alias} !2:example.org  [drifted]`,
      "    ~ history visibility (none) → shared",
      `    - unarchive: everyone may post again; power levels ${u("ann")} 25 → 0, ${u("bob")} 0 → 50`,
      "",
      "Plan: 3 actions (1 create_room, 1 set_history_visibility, 1 unarchive) in 2 rooms. Rooms: 2 managed, 0 in sync, 1 drifted, 1 missing, 0 blocked, 0 with errors.",
    ])
    expect(
      planToText({ rooms: [room("1", "missing", [create])] })
        .split("\n")
        .at(-1),
    ).toMatch(/^Plan: 1 action \(1 create_room\) in 1 room\. /)
  })

  it("its summary line, in the singular and when nothing is to be done", () => {
    const summary = (...rooms: ReadonlyArray<RoomPlan>) => planToText({ rooms }).split("\n").at(-1)
    const counts = (managed: number, inSync: number, drifted: number, blocked: number, errors: number) =>
      `Rooms: ${managed} managed, ${inSync} in sync, ${drifted} drifted, 0 missing, ${blocked} blocked, ${errors} with errors.`
    const blocked = room("8", "blocked", [], { conditions: [{ type: "blocked", message: "x" }] })
    const failed = room("9", "error", [], { conditions: [{ type: "error", message: "x" }] })
    expect(summary(room("1", "in_sync", []))).toBe(`No changes. Matrix matches OpenMeet. ${counts(1, 1, 0, 0, 0)}`)
    expect(summary(blocked)).toBe(
      `No changes to apply, but 1 room needs a person (1 blocked, 0 with errors: see above). ${counts(1, 0, 0, 1, 0)}`,
    )
    expect(summary(blocked, failed)).toBe(
      `No changes to apply, but 2 rooms need a person (1 blocked, 1 with errors: see above). ${counts(2, 0, 0, 1, 1)}`,
    )
    const invite = room("2", "drifted", [{ type: "invite", user: u("ann"), reason: why }], { visitors: 1 })
    expect(summary(invite)).toBe(
      `Plan: 1 action (1 invite) in 1 room. ${counts(1, 0, 1, 0, 0)} 1 visitor (no attendee or member row) left in public rooms.`,
    )
  })
})

describe("the plan as JSON", () => {
  it("names each room by key, tenant, kind and id, without the power-levels content, null where nothing is known", () => {
    const levels: PlannedAction = {
      type: "set_power_levels",
      changes: { [u("ann")]: { from: 0, to: 50 } },
      content,
      reason: why,
    }
    const invite: PlannedAction = { type: "invite", user: u("ann"), reason: why, held: true }
    const json = planToJson({
      rooms: [room("2", "drifted", [levels, invite], { alias: undefined, roomId: undefined })],
    })
    expect(json).toMatchObject({ formatVersion: 1, summary: { rooms: 1, drifted: 1, held: 1 } })
    expect(json.rooms).toEqual([
      {
        key: "event:t1:2",
        tenant: "t1",
        kind: "event",
        entityId: "2",
        alias: null,
        roomId: null,
        status: "drifted",
        actions: [{ type: "set_power_levels", changes: { [u("ann")]: { from: 0, to: 50 } }, reason: why }, invite],
        conditions: [],
        visitors: 0,
      },
    ])
  })
})
