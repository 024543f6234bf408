import { describe, expect, it } from "vitest"
import type { AttendeeFacts, DesiredRoom, EventFacts, RoomOutcome, UserFacts } from "../src/index.ts"
import { defaultPolicy, desiredEventRoom } from "../src/index.ts"

const tenant = { tenant: "t1", serverName: "example.org" }
const event = (overrides: Partial<EventFacts> = {}): EventFacts => ({
  id: "42",
  slug: "party",
  name: "Party",
  status: "published",
  visibility: "public",
  ownerId: null,
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
const attendee = (userId: string, status: string | null, role: string | null = "participant"): AttendeeFacts => ({
  id: `a${userId}`,
  userId,
  status,
  role,
})
const mx = (id: string) => `@user${id}:example.org`

const room = (outcome: RoomOutcome): DesiredRoom => {
  if (outcome.outcome._tag !== "Desired")
    throw new Error(`expected a desired room, got ${JSON.stringify(outcome.outcome)}`)
  return outcome.outcome.room
}
const problems = (outcome: RoomOutcome) => (outcome.outcome._tag === "Failed" ? outcome.outcome.problems : [])

describe("event room entitlement (policy.md §3)", () => {
  const statuses: ReadonlyArray<[string, boolean]> = [
    ["confirmed", true],
    ["attended", true],
    ["cancelled", true],
    ["invited", false],
    ["rejected", false],
    ["maybe", false],
    ["pending", false],
    ["waitlist", false],
  ]
  for (const [status, entitled] of statuses) {
    it(`a participant with status ${status} is ${entitled ? "" : "not "}entitled`, () => {
      const result = room(desiredEventRoom(tenant, event(), [attendee("1", status)], users(user("1")), defaultPolicy))
      expect(result.members.has(mx("1"))).toBe(entitled)
      if (entitled)
        expect(result.members.get(mx("1"))).toEqual({ userId: mx("1"), level: 0, reason: `attendee status ${status}` })
      else expect(result.excluded.get(mx("1"))).toBe(`attendee status ${status} is not entitled`)
    })
  }

  it("hosts and moderators are entitled whatever their status, except rejected", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", "waitlist", "host"), attendee("2", "pending", "moderator"), attendee("3", "rejected", "host")],
        users(user("1"), user("2"), user("3")),
        defaultPolicy,
      ),
    )
    expect(result.members.get(mx("1"))).toEqual({ userId: mx("1"), level: 99, reason: "role host" })
    expect(result.members.get(mx("2"))).toEqual({ userId: mx("2"), level: 50, reason: "role moderator" })
    expect(result.members.has(mx("3"))).toBe(false)
  })

  it("levels follow roles: host 99, moderator 50, speaker 25, participant and guest 0", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event(),
        ["host", "moderator", "speaker", "participant", "guest"].map((role, i) =>
          attendee(String(i + 1), "confirmed", role),
        ),
        users(user("1"), user("2"), user("3"), user("4"), user("5")),
        defaultPolicy,
      ),
    )
    expect([1, 2, 3, 4, 5].map((i) => result.members.get(mx(String(i)))?.level)).toEqual([99, 50, 25, 0, 0])
  })

  it("a speaker who is not confirmed is not entitled", () => {
    const result = room(
      desiredEventRoom(tenant, event(), [attendee("1", "pending", "speaker")], users(user("1")), defaultPolicy),
    )
    expect(result.members.size).toBe(0)
  })

  it("the owner is entitled at 99 without an attendee row", () => {
    const result = room(desiredEventRoom(tenant, event({ ownerId: "9" }), [], users(user("9")), defaultPolicy))
    expect(result.members.get(mx("9"))).toEqual({ userId: mx("9"), level: 99, reason: "event owner" })
  })

  it("the owner with an attendee row is entitled at the row's role level", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event({ ownerId: "9" }),
        [attendee("9", "rejected", "participant")],
        users(user("9")),
        defaultPolicy,
      ),
    )
    expect(result.members.get(mx("9"))).toEqual({ userId: mx("9"), level: 0, reason: "event owner" })
  })

  it("inactive users are not entitled", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event({ ownerId: "2" }),
        [attendee("1", "confirmed", "host")],
        users(user("1", { statusId: 2 }), user("2", { statusId: null })),
        defaultPolicy,
      ),
    )
    expect(result.members.size).toBe(0)
    expect(result.excluded.get(mx("1"))).toBe("user is not active in OpenMeet")
    expect(result.excluded.get(mx("2"))).toBe("user is not active in OpenMeet")
  })

  it("users without a handle are counted as pending and never guessed", () => {
    const outcome = desiredEventRoom(
      tenant,
      event(),
      [attendee("1", "confirmed")],
      users(user("1", { handle: null })),
      defaultPolicy,
    )
    expect(room(outcome).members.size).toBe(0)
    expect(outcome.pendingHandles).toEqual(["1"])
  })

  it("resolves users once per tenant read, the same in every room, however their ids are written", () => {
    // One users map for the whole read, as DesiredState passes it: later rooms reuse what the
    // first worked out, and "7", "07" and "x7" stay three users.
    const read = users(
      user("7"),
      user("07", { handle: "zero7" }),
      user("x7", { handle: "ex7", statusId: 2 }),
      user("8", { handle: null }),
      user("1234567890", { handle: "big" }),
    )
    const rows = [
      attendee("7", "confirmed"),
      attendee("07", "confirmed"),
      attendee("x7", "confirmed"),
      attendee("8", "confirmed"),
      attendee("1234567890", "confirmed"),
    ]
    for (const id of ["1", "2"]) {
      const outcome = desiredEventRoom(tenant, event({ id, slug: `e${id}` }), rows, read, defaultPolicy)
      const result = room(outcome)
      expect([...result.members.keys()].sort()).toEqual(["@big:example.org", mx("7"), "@zero7:example.org"])
      expect(result.excluded.get("@ex7:example.org")).toBe("user is not active in OpenMeet")
      expect(outcome.pendingHandles).toEqual(["8"])
    }
  })

  it("entitled statuses are configurable per tenant", () => {
    const policy = { ...defaultPolicy, eventEntitledStatuses: new Set(["confirmed"] as const) }
    const result = room(
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", "cancelled"), attendee("2", "confirmed")],
        users(user("1"), user("2")),
        policy,
      ),
    )
    expect([...result.members.keys()]).toEqual([mx("2")])
  })
})

describe("event room identity and settings (policy.md §2)", () => {
  it("uses the alias #event-<slug>-<tenant>:<server> and the event's name", () => {
    const result = room(desiredEventRoom(tenant, event(), [], users(), defaultPolicy))
    expect(result.alias).toBe("#event-party-t1:example.org")
    expect(result.name).toBe("Party")
    expect(result.historyVisibility).toBe("shared")
    expect(result.guestAccess).toBe("forbidden")
  })

  const creation: ReadonlyArray<[string | null, boolean]> = [
    ["published", true],
    ["draft", false],
    ["pending", false],
    ["cancelled", false],
    [null, false],
  ]
  for (const [status, mayCreate] of creation) {
    it(`an event with status ${status} ${mayCreate ? "gets" : "does not get"} a new room`, () => {
      expect(room(desiredEventRoom(tenant, event({ status }), [], users(), defaultPolicy)).mayCreate).toBe(mayCreate)
    })
  }

  it("a cancelled event's room is named [Cancelled] …", () => {
    expect(room(desiredEventRoom(tenant, event({ status: "cancelled" }), [], users(), defaultPolicy)).name).toBe(
      "[Cancelled] Party",
    )
  })

  const joinRules: ReadonlyArray<[string, "public" | "invite"]> = [
    ["public", "public"],
    ["unlisted", "invite"],
    ["authenticated", "invite"],
    ["private", "invite"],
  ]
  for (const [visibility, rule] of joinRules) {
    it(`visibility ${visibility} gives join rule ${rule}`, () => {
      expect(room(desiredEventRoom(tenant, event({ visibility }), [], users(), defaultPolicy)).joinRule).toBe(rule)
    })
  }

  it("joinRule: public makes every room public", () => {
    const policy = { ...defaultPolicy, joinRule: "public" as const }
    expect(room(desiredEventRoom(tenant, event({ visibility: "private" }), [], users(), policy)).joinRule).toBe(
      "public",
    )
  })

  it("keeps a stale-looking matrixRoomId only as a hint", () => {
    expect(
      room(desiredEventRoom(tenant, event({ matrixRoomId: "!x:example.org" }), [], users(), defaultPolicy)).roomIdHint,
    ).toBe("!x:example.org")
    expect(
      room(desiredEventRoom(tenant, event({ matrixRoomId: "" }), [], users(), defaultPolicy)).roomIdHint,
    ).toBeUndefined()
  })
})

describe("OpenMeet's NULLs and legacy labels are decisions, not errors (docs/policy.md §3)", () => {
  it("a participant with a NULL status is not entitled; a host or moderator with one is", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", null), attendee("2", null, "host"), attendee("3", null, "moderator")],
        users(user("1"), user("2"), user("3")),
        defaultPolicy,
      ),
    )
    expect(result.excluded.get(mx("1"))).toBe("attendee status NULL is not entitled")
    expect(result.members.get(mx("2"))).toEqual({ userId: mx("2"), level: 99, reason: "role host" })
    expect(result.members.get(mx("3"))).toEqual({ userId: mx("3"), level: 50, reason: "role moderator" })
    expect(result.undecidedRows).toEqual([])
  })

  it("the owner with a NULL-status row is still entitled as owner", () => {
    const result = room(
      desiredEventRoom(tenant, event({ ownerId: "1" }), [attendee("1", null, "host")], users(user("1")), defaultPolicy),
    )
    expect(result.members.get(mx("1"))).toEqual({ userId: mx("1"), level: 99, reason: "event owner, role host" })
  })

  it("maybe is not entitled by default, and is when eventEntitledStatuses says so", () => {
    const rows = [attendee("1", "maybe")]
    expect(room(desiredEventRoom(tenant, event(), rows, users(user("1")), defaultPolicy)).members.size).toBe(0)
    const policy = { ...defaultPolicy, eventEntitledStatuses: new Set(["confirmed", "maybe"] as const) }
    expect(room(desiredEventRoom(tenant, event(), rows, users(user("1")), policy)).members.get(mx("1"))?.reason).toBe(
      "attendee status maybe",
    )
  })

  it("a NULL visibility never opens a room: invite-only", () => {
    expect(room(desiredEventRoom(tenant, event({ visibility: null }), [], users(), defaultPolicy)).joinRule).toBe(
      "invite",
    )
  })

  it("a NULL event status is treated like draft: no room created, an existing one managed, not archived", () => {
    const result = room(desiredEventRoom(tenant, event({ status: null }), [], users(), defaultPolicy))
    expect([result.mayCreate, result.archived, result.name]).toEqual([false, false, "Party"])
  })
})

describe("a row that cannot be decided costs only its user (policy.md §5)", () => {
  /** The room with ann (user 1) entitled beside the undecided row of user 2. */
  const withBadRow = (bad: AttendeeFacts, userFacts: UserFacts = user("2")) =>
    room(
      desiredEventRoom(tenant, event(), [attendee("1", "confirmed"), bad], users(user("1"), userFacts), defaultPolicy),
    )

  const cases: ReadonlyArray<[string, AttendeeFacts, UserFacts | undefined, string, string | undefined]> = [
    [
      "an unknown attendee status",
      attendee("2", "checked_in"),
      undefined,
      'eventAttendees id a2: unknown status "checked_in"',
      mx("2"),
    ],
    [
      "an unknown role name",
      attendee("2", "confirmed", "vip"),
      undefined,
      'eventAttendees id a2: unknown role "vip"',
      mx("2"),
    ],
    [
      "a role id with no role behind it",
      { ...attendee("2", "confirmed", null), roleId: "999" },
      undefined,
      "eventAttendees id a2: role id 999 names no eventRoles row",
      mx("2"),
    ],
    [
      "a handle that is not a Matrix localpart",
      attendee("2", "rejected"),
      user("2", { handle: "Ann Smith" }),
      'matrixHandleRegistry id user 2: handle "Ann Smith" is not a valid Matrix localpart',
      "@Ann Smith:example.org",
    ],
    [
      "a handle another user has too",
      attendee("2", "rejected"),
      user("2", { conflict: 'handle "user2" is shared with user 3' }),
      'matrixHandleRegistry id user 2: handle "user2" is shared with user 3',
      mx("2"),
    ],
    [
      "a row pointing at a user that does not exist, whose handle the registry has",
      attendee("2", "rejected"),
      user("2", { missing: true, statusId: null }),
      'eventAttendees id a2: points at user 2, which does not exist (the registry gives it handle "user2")',
      mx("2"),
    ],
    [
      "a row pointing at a user that does not exist, without a handle: entitles no one",
      attendee("2", "confirmed"),
      user("2", { missing: true, statusId: null, handle: null }),
      "eventAttendees id a2: points at user 2, which does not exist; it names no Matrix user and entitles no one",
      undefined,
    ],
  ]
  for (const [name, row, userFacts, message, leftAsIs] of cases) {
    it(name, () => {
      const result = withBadRow(row, userFacts)
      expect(result.members.get(mx("1"))?.reason).toBe("attendee status confirmed")
      expect(result.undecidedRows.map((p) => `${p.table} id ${p.id}: ${p.message}`)).toEqual([
        leftAsIs === undefined ? message : `${message}; ${leftAsIs} is left as is`,
      ])
      expect(result.undecidedRows.every((p) => p.tenant === "t1")).toBe(true)
      expect([...result.undecided.keys()]).toEqual(leftAsIs === undefined ? [] : [leftAsIs])
      expect(result.members.has(mx("2")) || result.excluded.has(mx("2"))).toBe(false)
    })
  }

  it("the owner whose row cannot be decided is left as found too", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event({ ownerId: "1" }),
        [attendee("1", "confirmed", "vip")],
        users(user("1")),
        defaultPolicy,
      ),
    )
    expect([result.members.size, [...result.undecided.keys()]]).toEqual([0, [mx("1")]])
  })
})

describe("bad entity rows fail the room, naming tenant, table and id (policy.md §5)", () => {
  const cases: ReadonlyArray<[string, RoomOutcome, string]> = [
    [
      "a NULL slug",
      desiredEventRoom(tenant, event({ slug: null }), [], users(), defaultPolicy),
      "events 42: slug is NULL or empty",
    ],
    [
      "an empty slug",
      desiredEventRoom(tenant, event({ slug: "" }), [], users(), defaultPolicy),
      "events 42: slug is NULL or empty",
    ],
    [
      "a slug with white space",
      desiredEventRoom(tenant, event({ slug: "summer party" }), [], users(), defaultPolicy),
      "events 42: alias",
    ],
    [
      "an unknown event status",
      desiredEventRoom(tenant, event({ status: "archived" }), [], users(), defaultPolicy),
      'events 42: unknown status "archived"',
    ],
    [
      "an unknown visibility",
      desiredEventRoom(tenant, event({ visibility: "members" }), [], users(), defaultPolicy),
      'events 42: unknown visibility "members"',
    ],
  ]
  for (const [name, outcome, message] of cases) {
    it(name, () => {
      expect(outcome.outcome._tag).toBe("Failed")
      const text = problems(outcome).map((p) => `${p.table} ${p.id}: ${p.message}`)
      expect(text.some((line) => line.startsWith(message))).toBe(true)
      expect(problems(outcome).every((p) => p.tenant === "t1")).toBe(true)
    })
  }
})

describe("event rules that mutation testing found unpinned (docs/reliability.md)", () => {
  const roleless: ReadonlyArray<[string, AttendeeFacts]> = [
    ["no role id", attendee("1", "confirmed", null)],
    ["a NULL role id", { ...attendee("1", "confirmed", null), roleId: null }],
  ]
  for (const [name, row] of roleless) {
    it(`a row without a role name and with ${name} is undecided: "roleId is NULL"`, () => {
      const result = room(desiredEventRoom(tenant, event(), [row], users(user("1")), defaultPolicy))
      expect(result.undecidedRows.map((p) => p.message)).toEqual([`roleId is NULL; ${mx("1")} is left as is`])
      expect([...result.undecided.keys()]).toEqual([mx("1")])
    })
  }

  it("a host or moderator whose status entitles them too reads the status rule with the role (policy.md §3 reasons)", () => {
    const result = room(
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", "confirmed", "moderator"), attendee("2", "attended", "host"), attendee("3", "pending", "host")],
        users(user("1"), user("2"), user("3")),
        defaultPolicy,
      ),
    )
    expect([1, 2, 3].map((i) => result.members.get(mx(String(i)))?.reason)).toEqual([
      "attendee status confirmed, role moderator",
      "attendee status attended, role host",
      "role host",
    ])
  })

  it("an owner without a row who does not exist is an undecided events row naming no one, not a crash", () => {
    const result = room(desiredEventRoom(tenant, event({ ownerId: "9" }), [], users(), defaultPolicy))
    expect(result.undecidedRows).toEqual([
      {
        tenant: "t1",
        table: "events",
        id: "42",
        message: "points at user 9, which does not exist; it names no Matrix user and entitles no one",
      },
    ])
    expect([result.members.size, result.excluded.size, result.undecided.size]).toEqual([0, 0, 0])
  })

  it("an owner without a row and without a handle yet is pending, never guessed", () => {
    const outcome = desiredEventRoom(
      tenant,
      event({ ownerId: "9" }),
      [],
      users(user("9", { handle: null })),
      defaultPolicy,
    )
    expect([room(outcome).members.size, outcome.pendingHandles]).toEqual([0, ["9"]])
  })

  it("a cancelled event's room is archived; a published, draft or pending one is not (policy.md §2)", () => {
    const archived = (status: string) =>
      room(desiredEventRoom(tenant, event({ status }), [], users(), defaultPolicy)).archived
    expect(["cancelled", "published", "draft", "pending"].map(archived)).toEqual([true, false, false, false])
  })
})

describe("one user's several rows, and users told apart however their ids are written (RoomBuilder)", () => {
  const row = (id: string, userId: string, status: string | null, role: string | null = "participant") => ({
    ...attendee(userId, status, role),
    id,
  })
  const decide = (rows: ReadonlyArray<AttendeeFacts>, ...ids: ReadonlyArray<string>) =>
    room(desiredEventRoom(tenant, event(), rows, users(...ids.map((id) => user(id))), defaultPolicy))

  it("the higher level wins; at equal levels the first row's reason is kept", () => {
    const result = decide(
      [
        row("a1", "1", "confirmed"),
        row("b1", "1", "confirmed", "host"),
        row("a2", "2", "waitlist", "host"),
        row("b2", "2", "confirmed"),
        row("a3", "3", "confirmed"),
        row("b3", "3", "attended"),
      ],
      "1",
      "2",
      "3",
    )
    expect([1, 2, 3].map((i) => result.members.get(mx(String(i))))).toEqual([
      { userId: mx("1"), level: 99, reason: "attendee status confirmed, role host" },
      { userId: mx("2"), level: 99, reason: "role host" },
      { userId: mx("3"), level: 0, reason: "attendee status confirmed" },
    ])
  })

  it("an entitling row beats an excluding one, in either order; of two excluding rows the first reason is kept", () => {
    const result = decide(
      [
        row("a1", "1", "rejected"),
        row("b1", "1", "confirmed"),
        row("a2", "2", "confirmed"),
        row("b2", "2", "rejected"),
        row("a3", "3", "rejected"),
        row("b3", "3", "maybe"),
      ],
      "1",
      "2",
      "3",
    )
    expect([...result.members.keys()]).toEqual([mx("1"), mx("2")])
    expect([...result.excluded]).toEqual([[mx("3"), "attendee status rejected is not entitled"]])
  })

  it("a row that cannot be decided leaves its user as found whatever the other rows say; the first such row names them", () => {
    const result = decide(
      [
        row("a1", "1", "confirmed"),
        row("b1", "1", "confirmed", "vip"),
        row("a2", "2", "confirmed", "vip"),
        row("b2", "2", "confirmed", "host"),
        row("a3", "3", "rejected"),
        row("b3", "3", "checked_in"),
        row("a4", "4", "confirmed", "vip"),
        row("b4", "4", "checked_in"),
      ],
      "1",
      "2",
      "3",
      "4",
    )
    expect([result.members.size, result.excluded.size]).toEqual([0, 0])
    expect([...result.undecided.keys()]).toEqual([mx("1"), mx("2"), mx("3"), mx("4")])
    expect(result.undecided.get(mx("4"))).toBe(
      `tenant "t1", eventAttendees id a4: unknown role "vip"; ${mx("4")} is left as is`,
    )
    expect(result.undecidedRows.map((p) => p.id)).toEqual(["b1", "a2", "b3", "a4", "b4"])
  })

  it("distinct user ids are distinct users, however odd (each has its own handle)", () => {
    // Ids a broken number parse would give one number: "" and "0", "10" and ":", "8" and
    // "12", "1" and "x", "'" and "/1", and two ids beyond exact doubles.
    const ids = ["0", "", "10", ":", "8", "12", "1", "x", "'", "/1", "12345678901234567", "12345678901234568"]
    const read = users(...ids.map((id, i) => user(id, { handle: `h${i}` })))
    for (const slug of ["e1", "e2"]) {
      const result = room(
        desiredEventRoom(
          tenant,
          event({ slug }),
          ids.map((id) => row(`a${id}`, id, "confirmed")),
          read,
          defaultPolicy,
        ),
      )
      expect([...result.members.keys()]).toEqual(ids.map((_, i) => `@h${i}:example.org`))
    }
  })

  it("one read's users on another server name get that server's ids", () => {
    const read = users(user("1"))
    const on = (serverName: string) => [
      ...room(
        desiredEventRoom({ tenant: "t1", serverName }, event(), [attendee("1", "confirmed")], read, defaultPolicy),
      ).members.keys(),
    ]
    expect([on("a.example"), on("b.example"), on("a.example")]).toEqual([
      ["@user1:a.example"],
      ["@user1:b.example"],
      ["@user1:a.example"],
    ])
  })

  it("a NULL matrixRoomId is no hint", () => {
    expect(
      room(desiredEventRoom(tenant, event({ matrixRoomId: null }), [], users(), defaultPolicy)).roomIdHint,
    ).toBeUndefined()
  })
})
