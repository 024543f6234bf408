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

describe("bad input fails the room, naming tenant, table and id (policy.md §5)", () => {
  const cases: ReadonlyArray<[string, RoomOutcome, string]> = [
    [
      "unknown attendee status",
      desiredEventRoom(tenant, event(), [attendee("1", "checked_in")], users(user("1")), defaultPolicy),
      'eventAttendees a1: unknown status "checked_in"',
    ],
    [
      "unknown role",
      desiredEventRoom(tenant, event(), [attendee("1", "confirmed", "vip")], users(user("1")), defaultPolicy),
      'eventAttendees a1: unknown role "vip"',
    ],
    [
      "a row pointing at a missing user",
      desiredEventRoom(tenant, event(), [attendee("1", "confirmed")], users(), defaultPolicy),
      "eventAttendees a1: points at user 1, which does not exist",
    ],
    [
      "a handle that is not a Matrix localpart",
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", "confirmed")],
        users(user("1", { handle: "Ann Smith" })),
        defaultPolicy,
      ),
      'matrixHandleRegistry user 1: handle "Ann Smith" is not a valid Matrix localpart',
    ],
    [
      "a handle another user has too",
      desiredEventRoom(
        tenant,
        event(),
        [attendee("1", "confirmed")],
        users(user("1", { conflict: 'handle "user1" is shared with user 2' })),
        defaultPolicy,
      ),
      'matrixHandleRegistry user 1: handle "user1" is shared with user 2',
    ],
    [
      "a NULL slug",
      desiredEventRoom(tenant, event({ slug: null }), [], users(), defaultPolicy),
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
