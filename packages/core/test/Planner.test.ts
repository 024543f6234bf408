import { describe, expect, it } from "vitest"
import type { DesiredOutcome, RoomPlan } from "../src/index.ts"
import { conditionPlan, destructiveUnits, parseLevel, planOrphan, planRoom, planToText, roomKey } from "../src/index.ts"
import { actualRoom, alias, bot, context, defaultPowerLevels, desiredRoom, plan, types, u } from "./fixtures.ts"

const desired = (room = desiredRoom([])): DesiredOutcome => ({ _tag: "Desired", room })

describe("which rooms exist (policy.md §2)", () => {
  it("creates a missing room with its alias, settings and levels in one action, then invites", () => {
    const room = desiredRoom([
      [u("host"), 99, "role host"],
      [u("ann"), 0],
    ])
    const result = plan(desired(room), undefined, context())
    expect(result.status).toBe("missing")
    expect(result.actions).toEqual([
      {
        type: "create_room",
        alias,
        name: "Party",
        joinRule: "public",
        historyVisibility: "shared",
        guestAccess: "forbidden",
        users: { [u("host")]: 99 },
        reason: "event 42 has no room",
      },
      { type: "invite", user: u("host"), reason: "role host" },
      { type: "invite", user: u("ann"), reason: "attendee status confirmed" },
    ])
  })

  it("caps levels at 99 in a created room, where the bot has 100", () => {
    const result = plan(desired(desiredRoom([[u("host"), 100]])), undefined, context())
    const create = result.actions[0]
    expect(create?.type === "create_room" && create.users).toEqual({ [u("host")]: 99 })
  })

  it("creates no room for an entity that may not have one (draft, pending, cancelled)", () => {
    expect(planRoom(desired(desiredRoom([[u("ann"), 0]], { mayCreate: false })), undefined, context())).toBeUndefined()
  })

  it("manages an existing room of an entity that may not create one", () => {
    const room = desiredRoom([[u("ann"), 0]], { mayCreate: false })
    const result = plan(desired(room), actualRoom([]), context())
    expect(types(result.actions)).toEqual([`invite ${u("ann")}`])
  })

  it("never acts on a room whose desired state failed", () => {
    const failed: DesiredOutcome = {
      _tag: "Failed",
      key: roomKey("t1", "event", "42"),
      alias,
      problems: [{ tenant: "t1", table: "eventAttendees", id: "7", message: 'unknown status "checked_in"' }],
    }
    const result = plan(failed, actualRoom([[u("ann"), "join"]]), context())
    expect(result.status).toBe("error")
    expect(result.actions).toEqual([])
    expect(result.conditions).toEqual([
      { type: "error", message: 'tenant "t1", eventAttendees id 7: unknown status "checked_in"' },
    ])
  })

  it("is in sync when everything matches", () => {
    const result = plan(
      desired(
        desiredRoom([
          [u("host"), 99],
          [u("ann"), 0],
        ]),
      ),
      actualRoom(
        [
          [u("host"), "join"],
          [u("ann"), "invite"],
        ],
        { [u("host")]: 99 },
      ),
      context(),
    )
    expect(result).toMatchObject({ status: "in_sync", actions: [], conditions: [] })
  })
})

describe("room settings (policy.md §2)", () => {
  it("corrects name, join rule, history visibility, guest access and canonical alias", () => {
    const actual = actualRoom(
      [],
      {},
      {
        name: "Old",
        joinRule: "invite",
        historyVisibility: "joined",
        guestAccess: "can_join",
        canonicalAlias: "#old:example.org",
      },
    )
    const result = plan(desired(), actual, context())
    expect(result.status).toBe("drifted")
    expect(result.actions.map((a) => ("to" in a ? [a.type, a.from, a.to] : [a.type]))).toEqual([
      ["set_name", "Old", "Party"],
      ["set_join_rule", "invite", "public"],
      ["set_history_visibility", "joined", "shared"],
      ["set_guest_access", "can_join", "forbidden"],
      ["set_canonical_alias", "#old:example.org", alias],
    ])
    const setAlias = result.actions[4]
    expect(setAlias?.type === "set_canonical_alias" && setAlias.altAliases).toEqual(["#old:example.org"])
  })

  it("reports an encrypted room and still manages it", () => {
    const result = plan(desired(desiredRoom([[u("ann"), 0]])), actualRoom([], {}, { encrypted: true }), context())
    expect(result.conditions.map((c) => c.type)).toEqual(["encrypted"])
    expect(types(result.actions)).toEqual([`invite ${u("ann")}`])
  })
})

describe("membership (policy.md §3)", () => {
  const ann = u("ann")
  const mod = u("mod")
  const cases: ReadonlyArray<{
    readonly name: string
    readonly entitled: boolean
    readonly member: readonly [string, "join" | "invite" | "leave" | "ban" | "knock", string?] | undefined
    readonly policy?: Parameters<typeof context>[0]
    readonly expected: ReadonlyArray<string>
  }> = [
    { name: "absent and entitled: invite", entitled: true, member: undefined, expected: [`invite ${ann}`] },
    {
      name: "absent and entitled in join mode: join",
      entitled: true,
      member: undefined,
      policy: { membershipMode: "join" },
      expected: [`join ${ann}`],
    },
    { name: "invited and entitled: nothing", entitled: true, member: [ann, "invite"], expected: [] },
    {
      name: "invited and entitled in join mode: join (finishes an interrupted join)",
      entitled: true,
      member: [ann, "invite"],
      policy: { membershipMode: "join" },
      expected: [`join ${ann}`],
    },
    { name: "joined and entitled: nothing", entitled: true, member: [ann, "join"], expected: [] },
    { name: "left by themselves: nothing (respectLeave)", entitled: true, member: [ann, "leave", ann], expected: [] },
    {
      name: "left by themselves without respectLeave: invite",
      entitled: true,
      member: [ann, "leave", ann],
      policy: { respectLeave: false },
      expected: [`invite ${ann}`],
    },
    {
      name: "kicked by a moderator: nothing (respectKicks)",
      entitled: true,
      member: [ann, "leave", mod],
      expected: [],
    },
    {
      name: "kicked by a moderator without respectKicks: invite",
      entitled: true,
      member: [ann, "leave", mod],
      policy: { respectKicks: false },
      expected: [`invite ${ann}`],
    },
    {
      name: "kicked by the bot, entitled again: invite",
      entitled: true,
      member: [ann, "leave", bot],
      expected: [`invite ${ann}`],
    },
    { name: "banned and entitled: nothing", entitled: true, member: [ann, "ban", mod], expected: [] },
    { name: "banned and not entitled: nothing", entitled: false, member: [ann, "ban", mod], expected: [] },
    { name: "joined, not entitled: kick", entitled: false, member: [ann, "join"], expected: [`kick ${ann}`] },
    {
      name: "invited, not entitled: kick rescinds the invite",
      entitled: false,
      member: [ann, "invite"],
      expected: [`kick ${ann}`],
    },
    { name: "left, not entitled: nothing", entitled: false, member: [ann, "leave", ann], expected: [] },
    { name: "knocking and entitled: invite", entitled: true, member: [ann, "knock"], expected: [`invite ${ann}`] },
    { name: "knocking, not entitled: nothing", entitled: false, member: [ann, "knock"], expected: [] },
  ]
  // In an invite-only room: in a public one, a user without any row is a visitor (below).
  const invite = { joinRule: "invite" } as const
  for (const c of cases) {
    it(c.name, () => {
      const room = desiredRoom(c.entitled ? [[ann, 0]] : [], invite)
      const result = plan(desired(room), actualRoom(c.member ? [c.member] : [], {}, invite), context(c.policy))
      expect(types(result.actions)).toEqual(c.expected)
    })
  }

  it("reports banned users", () => {
    const result = plan(desired(desiredRoom([[ann, 0]])), actualRoom([[ann, "ban", mod]]), context())
    expect(result.conditions).toEqual([{ type: "banned", message: `${ann} is banned; left alone` }])
  })

  it("names the rule in a kick's reason", () => {
    const room = desiredRoom([], { ...invite, excluded: new Map([[ann, "attendee status rejected is not entitled"]]) })
    const result = plan(
      desired(room),
      actualRoom(
        [
          [ann, "join"],
          [u("bob"), "join"],
        ],
        {},
        invite,
      ),
      context(),
    )
    expect(result.actions).toEqual([
      { type: "kick", user: ann, reason: "attendee status rejected is not entitled" },
      { type: "kick", user: u("bob"), reason: "not entitled to event 42" },
    ])
  })

  it("never kicks protected users: the bot, protectedUsers matches, other servers", () => {
    const result = plan(
      desired(),
      actualRoom(
        [
          [u("admin"), "join"],
          ["@remote:elsewhere.org", "join"],
        ],
        { [u("admin")]: 100, "@remote:elsewhere.org": 50 },
      ),
      context({ protectedUsers: [/^@admin:/] }),
    )
    expect(result).toMatchObject({ status: "in_sync", actions: [] })
  })

  it("orders actions: settings, power levels, invites, kicks", () => {
    const result = plan(
      desired(
        desiredRoom(
          [
            [u("mod"), 50],
            [ann, 0],
          ],
          invite,
        ),
      ),
      actualRoom([[u("gone"), "join"]], { [u("gone")]: 50 }, { ...invite, name: "Old" }),
      context(),
    )
    expect(types(result.actions)).toEqual([
      "set_name",
      "set_power_levels",
      `invite ${u("mod")}`,
      `invite ${ann}`,
      `kick ${u("gone")}`,
    ])
  })
})

describe("power levels (policy.md §4)", () => {
  const levelsAction = (result: RoomPlan) => {
    const action = result.actions.find((a) => a.type === "set_power_levels")
    return action?.type === "set_power_levels" ? action : undefined
  }

  it("writes every change in one event; 0 is written by removing the entry; other keys are kept", () => {
    const actual = actualRoom(
      [
        [u("ann"), "join"],
        [u("bob"), "join"],
        [u("carl"), "join"],
      ],
      { [u("ann")]: 50, [u("bob")]: 0, [u("carl")]: 25 },
    )
    const room = desiredRoom([
      [u("ann"), 0],
      [u("bob"), 50],
      [u("carl"), 25],
      [u("dora"), 99],
    ])
    const action = levelsAction(plan(desired(room), actual, context()))
    expect(action?.changes).toEqual({
      [u("ann")]: { from: 50, to: 0 },
      [u("bob")]: { from: 0, to: 50 },
      [u("dora")]: { from: 0, to: 99 },
    })
    expect(action?.content).toEqual({
      ...defaultPowerLevels({}),
      users: { [bot]: 100, [u("bob")]: 50, [u("carl")]: 25, [u("dora")]: 99 },
    })
  })

  it("removes the entries of users who are not entitled, present or not", () => {
    const action = levelsAction(plan(desired(), actualRoom([], { [u("old")]: 50 }), context()))
    expect(action?.changes).toEqual({ [u("old")]: { from: 50, to: 0 } })
    expect(action?.content.users).toEqual({ [bot]: 100 })
  })

  it("caps levels one below the bot", () => {
    const action = levelsAction(
      plan(desired(desiredRoom([[u("host"), 100]])), actualRoom([[u("host"), "join"]]), context()),
    )
    expect(action?.changes).toEqual({ [u("host")]: { from: 0, to: 99 } })
  })

  it("keeps protected users' entries exactly as found", () => {
    const actual = actualRoom([], { [u("admin")]: 100, "@remote:elsewhere.org": 42 })
    const result = plan(desired(desiredRoom([[u("ann"), 50]])), actual, context({ protectedUsers: [/^@admin:/] }))
    expect(levelsAction(result)?.content.users).toEqual({
      [bot]: 100,
      [u("admin")]: 100,
      "@remote:elsewhere.org": 42,
      [u("ann")]: 50,
    })
  })

  it("keeps a legacy host at the bot's level whose role still gives 99: level_kept, the room is not blocked", () => {
    const actual = actualRoom(
      [
        [u("host"), "join"],
        [u("ann"), "join"],
      ],
      { [u("host")]: 100, [u("ann")]: 50 },
    )
    const result = plan(
      desired(
        desiredRoom([
          [u("host"), 99],
          [u("ann"), 0],
        ]),
      ),
      actual,
      context(),
    )
    expect(result.status).toBe("drifted")
    expect(result.conditions).toEqual([
      {
        type: "level_kept",
        message: `${u("host")} keeps level 100 (their role gives 99): it is not below the bot's 100; only they can lower their own level (in a Matrix client), or a user above 100; make_room_admin cannot (docs/operations.md)`,
      },
    ])
    expect(levelsAction(result)?.changes).toEqual({ [u("ann")]: { from: 50, to: 0 } })
    expect(levelsAction(result)?.content.users).toEqual({ [bot]: 100, [u("host")]: 100 })
  })

  it("blocks on a user at the bot's level whose role no longer grants power, keeping their entry", () => {
    const actual = actualRoom([[u("host"), "join"]], { [u("host")]: 100 })
    const result = plan(desired(desiredRoom([[u("host"), 0]])), actual, context())
    expect(result.status).toBe("blocked")
    expect(result.conditions).toEqual([
      {
        type: "blocked",
        message: `cannot demote ${u("host")}: their level 100 is not below the bot's 100; only they can lower their own level (in a Matrix client), or a user above 100; make_room_admin cannot (docs/operations.md)`,
      },
    ])
    expect(result.actions).toEqual([])
  })

  it("blocks a room where the bot lacks power, plans nothing for it, and says whether adopt would fix it", () => {
    const legacy = { ...defaultPowerLevels({}), users: { [bot]: 50, [u("owner")]: 100 } }
    // The owner is joined: make_room_admin lends the bot their 100.
    const joined = actualRoom([[u("owner"), "join"]], {}, { powerLevels: legacy })
    const result = plan(desired(desiredRoom([[u("bob"), 0]])), joined, context())
    expect(result.status).toBe("blocked")
    expect(result.actions).toEqual([])
    expect(result.conditions).toEqual([
      {
        type: "blocked",
        message: `bot lacks power: m.room.power_levels needs 100, the bot has 50; \`reconciler adopt\` would fix it (Synapse's make_room_admin: ${u("owner")} gives the bot 100) (docs/operations.md)`,
        adopt: "!room:example.org",
      },
    ])
    // The owner left: nobody of this server can lend more than the bot has.
    const left = actualRoom([[u("owner"), "leave"]], {}, { powerLevels: legacy })
    expect(plan(desired(desiredRoom([[u("bob"), 0]])), left, context()).conditions).toEqual([
      {
        type: "blocked",
        message:
          "bot lacks power: m.room.power_levels needs 100, the bot has 50; make_room_admin cannot give the bot more than 50: a room admin must lower what these need (docs/operations.md)",
      },
    ])
  })

  it("room version 12: creators hold unlimited power and never appear in users", () => {
    const actual = actualRoom(
      [[u("host"), "join"]],
      {},
      {
        roomVersion: "12",
        creators: [bot],
        powerLevels: { ...defaultPowerLevels({}), users: {} },
      },
    )
    const action = levelsAction(plan(desired(desiredRoom([[u("host"), 100]])), actual, context()))
    expect(action?.changes).toEqual({ [u("host")]: { from: 0, to: 100 } })
    expect(action?.content.users).toEqual({ [u("host")]: 100 })
  })
})

describe("cancelled events, slug changes and orphans (policy.md §2)", () => {
  it("archives a cancelled event's room in its one power-levels write: events_default 50, levels too", () => {
    const room = desiredRoom([[u("host"), 99]], { archived: true, mayCreate: false, name: "[Cancelled] Party" })
    const result = plan(desired(room), actualRoom([[u("host"), "join"]], {}, { name: "Party" }), context())
    expect(types(result.actions)).toEqual(["set_name", "archive"])
    const archive = result.actions[1]
    expect(archive?.type === "archive" && archive.changes).toEqual({ [u("host")]: { from: 0, to: 99 } })
    expect(archive?.type === "archive" && archive.content.events_default).toBe(50)
    // Members stay: nobody is kicked for a cancellation.
    expect(result.actions.some((a) => a.type === "kick")).toBe(false)
  })

  it("an archived room stays archived: nothing more to do", () => {
    const room = desiredRoom([], { archived: true })
    const actual = actualRoom([], {}, { powerLevels: { ...defaultPowerLevels({}), events_default: 50 } })
    expect(plan(desired(room), actual, context()).actions).toEqual([])
  })

  it("after a slug change adds the new alias, makes it canonical and keeps the old one as alt alias", () => {
    const actual = actualRoom(
      [],
      {},
      { canonicalAlias: "#event-old-t1:example.org", altAliases: ["#event-older-t1:example.org"] },
    )
    const result = plan(desired(), actual, context(), { aliasTarget: null })
    expect(result.actions).toEqual([
      { type: "add_alias", alias, reason: "the slug changed" },
      {
        type: "set_canonical_alias",
        from: "#event-old-t1:example.org",
        to: alias,
        altAliases: ["#event-older-t1:example.org", "#event-old-t1:example.org"],
        reason: "desired by event 42",
      },
    ])
  })

  it("blocks when the new alias belongs to another room", () => {
    const actual = actualRoom([], {}, { canonicalAlias: "#event-old-t1:example.org" })
    const result = plan(desired(), actual, context(), { aliasTarget: "!other:example.org" })
    expect(result.status).toBe("blocked")
    expect(result.conditions).toEqual([
      { type: "blocked", message: `alias ${alias} belongs to another room, !other:example.org` },
    ])
    expect(result.actions).toEqual([])
  })

  it("moves an alias left on a room this one replaced (an upgrade made by hand), never reports it as another room's", () => {
    const facts = { aliasTarget: "!old:example.org", predecessors: ["!old:example.org"] }
    // The successor carries the canonical alias already: only the directory entry moves.
    const copied = plan(desired(), actualRoom([]), context(), facts)
    expect(copied.status).toBe("drifted")
    expect(copied.conditions).toEqual([])
    expect(copied.actions).toEqual([
      {
        type: "add_alias",
        alias,
        from: "!old:example.org",
        reason: "the alias still names !old:example.org, the room this one replaced",
      },
    ])
    expect(planToText({ rooms: [copied] })).toContain(`move alias ${alias} from !old:example.org`)
    // Without a canonical alias yet: moved, then made canonical.
    const bare = plan(desired(), actualRoom([], {}, { canonicalAlias: undefined }), context(), facts)
    expect(types(bare.actions)).toEqual(["add_alias", "set_canonical_alias"])
  })

  const orphan = actualRoom(
    [
      [u("ann"), "join"],
      [u("bob"), "invite"],
      [u("admin"), "join"],
    ],
    {},
  )
  it("reports an orphan by default and does nothing", () => {
    const result = planOrphan(orphan, alias, "t1", context())
    expect(result).toMatchObject({
      key: { tenant: "t1", kind: "orphan", entityId: "!room:example.org" },
      alias,
      status: "orphan",
      actions: [],
      memberCount: 3,
      entitledCount: 0,
    })
  })

  it("archives an orphan with orphanPolicy archive", () => {
    const result = planOrphan(orphan, alias, "t1", context({ orphanPolicy: "archive" }))
    expect(result.actions.map((a) => a.type)).toEqual(["archive"])
  })

  it("evicts every managed member of an orphan with orphanPolicy evict, never protected users", () => {
    const result = planOrphan(orphan, alias, "t1", context({ orphanPolicy: "evict", protectedUsers: [/^@admin:/] }))
    expect(types(result.actions)).toEqual([`kick ${u("ann")}`, `kick ${u("bob")}`])
  })
})

describe("what Synapse would refuse is a condition, never a request (policy.md §4, §5)", () => {
  it("never kicks a user at or above the bot's level: blocked 'cannot remove', the room's other actions still run", () => {
    // Invite-only: in a public room users with no row are visitors, left alone anyway.
    const actual = actualRoom(
      [
        [u("boss"), "join"],
        [u("eve"), "join"],
      ],
      { [u("boss")]: 100 },
      { joinRule: "invite" },
    )
    const result = plan(desired(desiredRoom([[u("ann"), 0]], { joinRule: "invite" })), actual, context())
    expect(types(result.actions)).toEqual([`invite ${u("ann")}`, `kick ${u("eve")}`])
    expect(result.status).toBe("blocked")
    const remedy =
      "only they can lower their own level (in a Matrix client), or a user above 100; make_room_admin cannot (docs/operations.md)"
    expect(result.conditions).toEqual([
      { type: "blocked", message: `cannot demote ${u("boss")}: their level 100 is not below the bot's 100; ${remedy}` },
      { type: "blocked", message: `cannot remove ${u("boss")}: their level 100 is not below the bot's 100; ${remedy}` },
    ])
  })

  it("skips a settings change whose event needs more than the bot has, with a condition", () => {
    const actual = actualRoom(
      [],
      {},
      {
        name: "Old",
        joinRule: "invite",
        powerLevels: {
          ...defaultPowerLevels({}),
          events: { "m.room.power_levels": 50, "m.room.name": 100 },
          users: { [bot]: 90 },
        },
      },
    )
    const result = plan(desired(), actual, context())
    expect(result.actions.map((a) => a.type)).toEqual(["set_join_rule"])
    expect(result.conditions).toEqual([
      {
        type: "blocked",
        message: "cannot write m.room.name: the room requires a higher level than the bot's (set_name skipped)",
      },
    ])
  })
})

describe("power levels as Synapse reads them (room versions 1–9 allow strings)", () => {
  const stringy = (users: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    actualRoom(
      [[u("mod"), "join"]],
      {},
      {
        roomVersion: "9",
        powerLevels: { ...defaultPowerLevels({}), ...extra, users: { [bot]: 100, ...users } },
      },
    )

  it('reads "50" as 50: an entitled moderator is left as written', () => {
    const result = plan(desired(desiredRoom([[u("mod"), 50]])), stringy({ [u("mod")]: "50" }), context())
    expect(result.actions).toEqual([])
  })

  it('demotes a "50" who is no longer a moderator as a counted demotion, never drops it silently', () => {
    const result = plan(desired(desiredRoom([[u("mod"), 0]])), stringy({ [u("mod")]: " +50 " }), context())
    expect(result.actions).toEqual([
      expect.objectContaining({ type: "set_power_levels", changes: { [u("mod")]: { from: 50, to: 0 } } }),
    ])
    expect(result.actions.map(destructiveUnits)).toEqual([1])
  })

  it("keeps unchanged string entries of other users exactly as written", () => {
    const result = plan(
      desired(desiredRoom([[u("mod"), 50]])),
      stringy({ [u("mod")]: 0, "@remote:elsewhere.org": "75" }),
      context(),
    )
    const write = result.actions[0]
    expect(write?.type === "set_power_levels" && write.content.users).toEqual({
      [bot]: 100,
      [u("mod")]: 50,
      "@remote:elsewhere.org": "75",
    })
  })

  it.each([
    ["a word", { [u("mod")]: "fifty" }, {}],
    ["a list", { [u("mod")]: [50] }, {}],
    ["a decimal string", { [u("mod")]: "50.5" }, {}],
    ["a kick level that is an object", {}, { kick: { level: 50 } }],
  ])("blocks the room when a level is %s: nothing is written or kicked", (_what, users, extra) => {
    const result = plan(desired(desiredRoom([])), stringy(users, extra), context())
    expect(result.status).toBe("blocked")
    expect(result.actions).toEqual([])
    expect(result.conditions[0]?.message).toMatch(/not a level/)
  })

  it("parses levels as Python's int() does", () => {
    expect([50, 50.9, -0.5, true, "50", " -7 ", "1_000", "+3"].map(parseLevel)).toEqual([50, 50, 0, 1, 50, -7, 1000, 3])
    expect(["", "5 0", "0x10", "1e2", "50.0", null, {}, Number.NaN].map(parseLevel)).toEqual(Array(8).fill(undefined))
  })
})

describe("archive and un-archive", () => {
  const archivedRoom = actualRoom(
    [[u("ann"), "join"]],
    {},
    {
      powerLevels: { ...defaultPowerLevels({}), events_default: 50 },
    },
  )
  it("lifts an archive the reconciler made once the entity is active again", () => {
    const result = plan(desired(desiredRoom([[u("ann"), 0]])), archivedRoom, context(), {
      archivedByReconciler: true,
    })
    expect(result.actions).toEqual([expect.objectContaining({ type: "unarchive", changes: {} })])
    const write = result.actions[0]
    expect(write?.type === "unarchive" && write.content.events_default).toBe(0)
  })

  it("leaves alone a room someone else made read-only", () => {
    expect(plan(desired(desiredRoom([[u("ann"), 0]])), archivedRoom, context()).actions).toEqual([])
  })

  it("counts an archive as destructive", () => {
    const orphan = actualRoom([[u("ann"), "join"]], {})
    const result = planOrphan(orphan, alias, "t1", context({ orphanPolicy: "archive" }))
    expect(result.actions.map(destructiveUnits)).toEqual([1])
  })

  it("evicts nobody at or above the bot's level from an orphan", () => {
    const strong = actualRoom(
      [
        [u("ann"), "join"],
        [u("boss"), "join"],
      ],
      { [u("boss")]: 100 },
    )
    const result = planOrphan(strong, alias, "t1", context({ orphanPolicy: "evict" }))
    expect(types(result.actions)).toEqual([`kick ${u("ann")}`])
  })
})

describe("planner rules that mutation testing found unpinned (docs/reliability.md)", () => {
  const orphanReason = "the room's event or group no longer exists in OpenMeet"
  /** Members of every membership, one of another server: the bot manages ann (join) and bob (invite) only. */
  const mixed = actualRoom([
    [u("zed"), "join"],
    [u("cy"), "leave"],
    [u("bob"), "invite"],
    [u("dee"), "ban", bot],
    [u("eve"), "knock"],
    ["@remote:elsewhere.org", "join"],
  ])
  const failed: DesiredOutcome = { _tag: "Failed", key: roomKey("t1", "event", "42"), alias, problems: [] }

  it("counts as members only users joined or invited whom it manages, also of a room it cannot plan", () => {
    expect(plan(desired(), mixed, context()).memberCount).toBe(2)
    expect(plan(failed, mixed, context()).memberCount).toBe(2)
    expect(planOrphan(mixed, alias, "t1", context()).memberCount).toBe(2)
  })

  it("a power level that is not a level is a 'blocked' condition", () => {
    const unreadable = actualRoom([], {}, { powerLevels: { ...defaultPowerLevels({}), kick: "lots" } })
    expect(plan(desired(), unreadable, context()).conditions).toEqual([
      { type: "blocked", message: 'power level kick is "lots", not a level' },
    ])
  })

  it("tells why an encrypted room stays so", () => {
    expect(plan(desired(), actualRoom([], {}, { encrypted: true }), context()).conditions).toEqual([
      {
        type: "encrypted",
        message:
          "room is encrypted (a legacy private room): it stays encrypted and is managed; people invited now cannot read what was said before they joined. Nothing to do (docs/operations.md)",
      },
    ])
  })

  it("gives each power-levels write its reason", () => {
    const archived = { powerLevels: { ...defaultPowerLevels({}), events_default: 50 } }
    const cases = [
      [
        desiredRoom([[u("host"), 99]]),
        actualRoom([[u("host"), "join"]]),
        "set_power_levels",
        "levels follow OpenMeet roles",
      ],
      [
        desiredRoom([], { archived: true }),
        actualRoom([]),
        "archive",
        "event 42 is cancelled: only moderators and up may post",
      ],
      [desiredRoom([]), actualRoom([], {}, archived), "unarchive", "event 42 is active again: everyone may post"],
    ] as const
    for (const [room, actual, type, reason] of cases) {
      const result = plan(desired(room), actual, context(), { archivedByReconciler: true })
      expect(result.actions.map((a) => [a.type, a.reason])).toEqual([[type, reason]])
    }
  })

  it("evicts an orphan's joined and invited members in user-id order, with the orphan's reason", () => {
    expect(planOrphan(mixed, alias, "t1", context({ orphanPolicy: "evict" })).actions).toEqual([
      { type: "kick", user: u("bob"), reason: orphanReason },
      { type: "kick", user: u("zed"), reason: orphanReason },
    ])
  })

  it("archives an orphan by raising events_default alone, and only one not archived yet", () => {
    const archive = context({ orphanPolicy: "archive" })
    expect(planOrphan(actualRoom([]), alias, "t1", archive).actions).toEqual([
      {
        type: "archive",
        changes: {},
        content: { ...defaultPowerLevels({}), events_default: 50 },
        reason: orphanReason,
      },
    ])
    const archived = actualRoom([], {}, { powerLevels: { ...defaultPowerLevels({}), events_default: 50 } })
    expect(planOrphan(archived, alias, "t1", archive).actions).toEqual([])
  })

  it("neither archives nor evicts an orphan it is blocked in; the blockers are its conditions", () => {
    const blocked = actualRoom([[u("ann"), "join"]], {}, { powerLevels: { ...defaultPowerLevels({}), kick: "lots" } })
    for (const orphanPolicy of ["archive", "evict"] as const) {
      const result = planOrphan(blocked, alias, "t1", context({ orphanPolicy }))
      expect(result.actions).toEqual([])
      expect(result.conditions).toEqual([{ type: "blocked", message: 'power level kick is "lots", not a level' }])
    }
  })

  it("a room it cannot act on now is one condition of its status and no actions", () => {
    const where = { key: roomKey("t1", "event", "42"), alias, roomId: "!room:example.org" }
    for (const status of ["error", "blocked"] as const) {
      expect(conditionPlan(where, status, "the room cannot be read")).toEqual({
        ...where,
        status,
        actions: [],
        conditions: [{ type: status, message: "the room cannot be read" }],
        memberCount: 0,
        entitledCount: 0,
      })
    }
  })
})
