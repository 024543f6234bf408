import { describe, expect, it } from "vitest"
import type { DesiredRoom, EntityFacts, GroupMemberFacts, RoomOutcome, UserFacts } from "../src/index.ts"
import { defaultPolicy, desiredGroupRoom } from "../src/index.ts"

const tenant = { tenant: "t1", serverName: "example.org" }
const group = (overrides: Partial<EntityFacts> = {}): EntityFacts => ({
  id: "7",
  slug: "hikers",
  name: "Hikers",
  status: "published",
  visibility: "public",
  matrixRoomId: null,
  ...overrides,
})
const user = (id: string, overrides: Partial<UserFacts> = {}): UserFacts => ({
  id,
  statusId: 1,
  handle: `user${id}`,
  ...overrides,
})
const users = (...list: ReadonlyArray<UserFacts>) => new Map(list.map((x) => [x.id, x]))
const member = (userId: string | null, role: string | null, id = `m${userId}`): GroupMemberFacts => ({
  id,
  userId,
  role,
})
const mx = (id: string) => `@user${id}:example.org`

const room = (outcome: RoomOutcome): DesiredRoom => {
  if (outcome.outcome._tag !== "Desired")
    throw new Error(`expected a desired room, got ${JSON.stringify(outcome.outcome)}`)
  return outcome.outcome.room
}

describe("group room entitlement (policy.md §3, §4)", () => {
  it("owners, admins, moderators and members are entitled at 99, 75, 50 and 0", () => {
    const result = room(
      desiredGroupRoom(
        tenant,
        group(),
        [member("1", "owner"), member("2", "admin"), member("3", "moderator"), member("4", "member")],
        users(user("1"), user("2"), user("3"), user("4")),
        defaultPolicy,
      ),
    )
    expect([...result.members.values()].map((m) => [m.userId, m.level, m.reason])).toEqual([
      [mx("1"), 99, "group role owner"],
      [mx("2"), 75, "group role admin"],
      [mx("3"), 50, "group role moderator"],
      [mx("4"), 0, "group role member"],
    ])
  })

  it("a guest is a pending request: not entitled", () => {
    const result = room(desiredGroupRoom(tenant, group(), [member("1", "guest")], users(user("1")), defaultPolicy))
    expect(result.members.size).toBe(0)
    expect(result.excluded.get(mx("1"))).toBe("group role guest is a pending request, not entitled")
  })

  it("inactive members are not entitled; members without a handle are pending", () => {
    const outcome = desiredGroupRoom(
      tenant,
      group(),
      [member("1", "member"), member("2", "member")],
      users(user("1", { statusId: 2 }), user("2", { handle: null })),
      defaultPolicy,
    )
    expect(room(outcome).members.size).toBe(0)
    expect(room(outcome).excluded.get(mx("1"))).toBe("user is not active in OpenMeet")
    expect(outcome.pendingHandles).toEqual(["2"])
  })

  it("group levels are configurable per tenant", () => {
    const policy = { ...defaultPolicy, groupLevels: { ...defaultPolicy.groupLevels, admin: 60 } }
    const result = room(desiredGroupRoom(tenant, group(), [member("1", "admin")], users(user("1")), policy))
    expect(result.members.get(mx("1"))?.level).toBe(60)
  })
})

describe("group room identity and settings (policy.md §2)", () => {
  it("uses #group-<slug>-<tenant>:<server> and the group's name", () => {
    const result = room(desiredGroupRoom(tenant, group(), [], users(), defaultPolicy))
    expect([result.alias, result.name, result.joinRule]).toEqual(["#group-hikers-t1:example.org", "Hikers", "public"])
  })

  const creation: ReadonlyArray<[string | null, boolean]> = [
    ["published", true],
    ["draft", false],
    ["pending", false],
    [null, false],
  ]
  for (const [status, mayCreate] of creation) {
    it(`a group with status ${status} ${mayCreate ? "gets" : "does not get"} a new room`, () => {
      expect(room(desiredGroupRoom(tenant, group({ status }), [], users(), defaultPolicy)).mayCreate).toBe(mayCreate)
    })
  }

  it("a private group's room is invite-only", () => {
    expect(room(desiredGroupRoom(tenant, group({ visibility: "private" }), [], users(), defaultPolicy)).joinRule).toBe(
      "invite",
    )
  })

  it("an unknown status fails the room (groups have no cancelled)", () => {
    const outcome = desiredGroupRoom(tenant, group({ status: "cancelled" }), [], users(), defaultPolicy)
    expect(outcome.outcome).toMatchObject({
      _tag: "Failed",
      problems: [{ table: "groups", id: "7", message: 'unknown status "cancelled"' }],
    })
  })
})

describe("OpenMeet's messy member rows (docs/policy.md §3, §5)", () => {
  it("a row with a NULL role is not an entitlement", () => {
    const result = room(desiredGroupRoom(tenant, group(), [member("1", null)], users(user("1")), defaultPolicy))
    expect(result.members.size).toBe(0)
    expect(result.excluded.get(mx("1"))).toBe("group member row m1 has no role (NULL), not an entitlement")
    expect(result.undecidedRows).toEqual([])
  })

  it("a row with a NULL user entitles no one and troubles no one", () => {
    const result = room(
      desiredGroupRoom(
        tenant,
        group(),
        [member(null, "owner", "m9"), member("1", "member")],
        users(user("1")),
        defaultPolicy,
      ),
    )
    expect([...result.members.keys()]).toEqual([mx("1")])
    expect([result.excluded.size, result.undecidedRows.length]).toEqual([0, 0])
  })

  it("duplicate rows of one user: the highest role counts, whatever the order", () => {
    const rows = [
      member("1", "guest", "m1"),
      member("1", "admin", "m2"),
      member("1", null, "m3"),
      member("1", "member", "m4"),
    ]
    for (const order of [rows, [...rows].reverse()]) {
      const result = room(desiredGroupRoom(tenant, group(), order, users(user("1")), defaultPolicy))
      expect(result.members.get(mx("1"))).toEqual({ userId: mx("1"), level: 75, reason: "group role admin" })
    }
  })

  it("a guest row beside a NULL-role row: still a pending request", () => {
    const result = room(
      desiredGroupRoom(
        tenant,
        group(),
        [member("1", null, "m1"), member("1", "guest", "m2")],
        users(user("1")),
        defaultPolicy,
      ),
    )
    expect(result.excluded.get(mx("1"))).toBe("group role guest is a pending request, not entitled")
  })

  const undecidable: ReadonlyArray<[string, GroupMemberFacts, string]> = [
    ["an unknown role label", member("2", "founder"), 'unknown role "founder"'],
    [
      "a role id with no role behind it",
      { ...member("2", null), roleId: "77" },
      "group role id 77 names no groupRoles row",
    ],
  ]
  for (const [name, row, message] of undecidable) {
    it(`${name}: that user is left as found, the others are reconciled`, () => {
      const result = room(
        desiredGroupRoom(
          tenant,
          group(),
          [member("1", "owner"), row, member("2", "member", "m2b")],
          users(user("1"), user("2")),
          defaultPolicy,
        ),
      )
      expect([...result.members.keys()]).toEqual([mx("1")])
      expect(result.undecidedRows).toEqual([
        { tenant: "t1", table: "groupMembers", id: "m2", message: `${message}; ${mx("2")} is left as is` },
      ])
      expect(result.undecided.get(mx("2"))).toBe(
        `tenant "t1", groupMembers id m2: ${message}; ${mx("2")} is left as is`,
      )
    })
  }
})

describe("group rules that mutation testing found unpinned (docs/reliability.md)", () => {
  it("a row with a NULL role and an explicitly NULL role id is no entitlement, not an undecided row", () => {
    const row: GroupMemberFacts = { ...member("1", null), roleId: null }
    const result = room(desiredGroupRoom(tenant, group(), [row], users(user("1")), defaultPolicy))
    expect(result.excluded.get(mx("1"))).toBe("group member row m1 has no role (NULL), not an entitlement")
    expect([result.undecidedRows, result.members.size]).toEqual([[], 0])
  })

  it("a member row pointing at a user that does not exist is an undecided groupMembers row naming no one", () => {
    const result = room(
      desiredGroupRoom(tenant, group(), [member("1", "owner"), member("2", "admin")], users(user("1")), defaultPolicy),
    )
    expect([...result.members.keys()]).toEqual([mx("1")])
    expect(result.undecidedRows).toEqual([
      {
        tenant: "t1",
        table: "groupMembers",
        id: "m2",
        message: "points at user 2, which does not exist; it names no Matrix user and entitles no one",
      },
    ])
  })

  it("a group's room is never archived: groups have no cancelled status (policy.md §2)", () => {
    for (const status of ["published", "draft", "pending"]) {
      expect(room(desiredGroupRoom(tenant, group({ status }), [], users(), defaultPolicy)).archived).toBe(false)
    }
  })
})
