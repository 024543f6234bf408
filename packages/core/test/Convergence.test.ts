import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import type { Action, ActualMember, ActualRoom, DesiredRoom, Membership, RoomContext } from "../src/index.ts"
import { isProtected, isVisitor, levelOf, planRoom } from "../src/index.ts"
import { actualRoom, bot, context, defaultPowerLevels, desiredRoom, u } from "./fixtures.ts"

/** A model of what the homeserver does with each action, for convergence properties. */
const simulate = (room: ActualRoom | undefined, actions: ReadonlyArray<Action>, ctx: RoomContext): ActualRoom => {
  let state: ActualRoom = room ?? actualRoom([])
  const setMember = (userId: string, membership: Membership, sender: string) => {
    const members = new Map(state.members)
    members.set(userId, { userId, membership, sender } satisfies ActualMember)
    state = { ...state, members }
  }
  for (const action of actions) {
    switch (action.type) {
      case "create_room":
        state = {
          ...actualRoom([]),
          name: action.name,
          joinRule: action.joinRule,
          historyVisibility: action.historyVisibility,
          guestAccess: action.guestAccess,
          canonicalAlias: action.alias,
          powerLevels: defaultPowerLevels(action.users),
        }
        break
      case "set_name":
        state = { ...state, name: action.to }
        break
      case "set_join_rule":
        state = { ...state, joinRule: action.to }
        break
      case "set_history_visibility":
        state = { ...state, historyVisibility: action.to }
        break
      case "set_guest_access":
        state = { ...state, guestAccess: action.to }
        break
      case "set_canonical_alias":
        state = { ...state, canonicalAlias: action.to, altAliases: action.altAliases }
        break
      case "set_power_levels":
      case "archive":
        state = { ...state, powerLevels: action.content }
        break
      case "add_alias":
        break
      case "invite":
        setMember(action.user, "invite", ctx.botUserId)
        break
      case "join":
        setMember(action.user, "join", action.user)
        break
      case "kick":
        setMember(action.user, "leave", ctx.botUserId)
        break
    }
  }
  return state
}

const people = ["ann", "bob", "carl", "dora", "eve", "fred", "gina", "admin"].map(u)
const everyone = [...people, "@remote:elsewhere.org"]
const levels = [0, 0, 0, 25, 50, 75, 99, 100]

/** What the database says about each person: entitled (at a level), excluded, undecided, or nothing. */
const arbitraryDesired: fc.Arbitrary<DesiredRoom> = fc
  .record({
    standing: fc.array(fc.constantFrom("entitled", "entitled", "excluded", "undecided", "none"), {
      minLength: people.length,
      maxLength: people.length,
    }),
    levels: fc.array(fc.constantFrom(...levels), { minLength: people.length, maxLength: people.length }),
    name: fc.constantFrom("Party", "Meetup"),
    joinRule: fc.constantFrom("public" as const, "invite" as const),
    archived: fc.boolean(),
  })
  .map(({ standing, levels: chosen, name, joinRule, archived }) => {
    const who = (wanted: string) => people.filter((_, i) => standing[i] === wanted)
    const undecided = who("undecided")
    return desiredRoom(
      people.flatMap((user, i) => (standing[i] === "entitled" ? [[user, chosen[i] ?? 0] as const] : [])),
      {
        name,
        joinRule,
        archived,
        excluded: new Map(who("excluded").map((user) => [user, "attendee status rejected is not entitled"])),
        undecided: new Map(undecided.map((user) => [user, "unknown role"])),
        undecidedRows: undecided.map((user) => ({ tenant: "t1", table: "eventAttendees", id: user, message: "?" })),
      },
    )
  })

const membershipWithSender: fc.Arbitrary<readonly [Membership, "self" | "bot" | "other"]> = fc.oneof(
  fc.constant(["join", "self"] as const),
  fc.constant(["invite", "bot"] as const),
  fc.constant(["invite", "other"] as const),
  fc.constant(["leave", "self"] as const),
  fc.constant(["leave", "bot"] as const),
  fc.constant(["leave", "other"] as const),
  fc.constant(["ban", "other"] as const),
  fc.constant(["knock", "self"] as const),
)

const arbitraryActual: fc.Arbitrary<ActualRoom | undefined> = fc.option(
  fc
    .record({
      members: fc.array(fc.tuple(fc.constantFrom(...everyone), membershipWithSender), { maxLength: 9 }),
      users: fc.dictionary(fc.constantFrom(...everyone), fc.constantFrom(...levels), { maxKeys: 5 }),
      botLevel: fc.constantFrom(100, 100, 100, 50),
      version: fc.constantFrom("10", "11", "12"),
      name: fc.constantFrom("Party", "Old name"),
      joinRule: fc.constantFrom("public", "invite", "knock"),
    })
    .map(({ members, users, botLevel, version, name, joinRule }) => {
      const sender = (user: string, who: "self" | "bot" | "other") =>
        who === "self" ? user : who === "bot" ? bot : u("moderator")
      const v12 = version === "12"
      return actualRoom(
        members.map(([user, [membership, who]]) => [user, membership, sender(user, who)] as const),
        {},
        {
          roomVersion: version,
          name,
          joinRule,
          powerLevels: { ...defaultPowerLevels({}), users: v12 ? users : { ...users, [bot]: botLevel } },
        },
      )
    }),
  { nil: undefined },
)

const arbitraryContext: fc.Arbitrary<RoomContext> = fc
  .record({
    membershipMode: fc.constantFrom("invite" as const, "join" as const),
    respectLeave: fc.boolean(),
    respectKicks: fc.boolean(),
    publicRoomVisitors: fc.constantFrom("keep" as const, "remove" as const),
  })
  .map((policy) => context({ ...policy, protectedUsers: [/^@admin:/] }))

const touchesUser = (action: Action, user: string): boolean =>
  ("user" in action && action.user === user) ||
  ((action.type === "set_power_levels" || action.type === "archive") && user in action.changes) ||
  (action.type === "create_room" && user in action.users)

describe("planner properties", () => {
  it("applying the plan reaches a state where planning again yields nothing (convergence, idempotence)", () => {
    fc.assert(
      fc.property(arbitraryDesired, arbitraryActual, arbitraryContext, (desired, actual, ctx) => {
        const first = planRoom({ _tag: "Desired", room: desired }, actual, ctx)
        if (first === undefined) return
        const after = simulate(actual, first.actions, ctx)
        const second = planRoom({ _tag: "Desired", room: desired }, after, ctx)
        expect(second?.actions).toEqual([])
      }),
      { numRuns: 500 },
    )
  })

  it("after applying, entitled users are in the room at their level and others are out, unless policy says leave them", () => {
    fc.assert(
      fc.property(arbitraryDesired, arbitraryActual, arbitraryContext, (desired, actual, ctx) => {
        const first = planRoom({ _tag: "Desired", room: desired }, actual, ctx)
        if (first === undefined || first.status === "blocked") return
        const after = simulate(actual, first.actions, ctx)
        const botLevel = levelOf(after, ctx.botUserId)
        for (const user of everyone) {
          if (isProtected(ctx, user) || desired.undecided.has(user)) continue
          const membership = after.members.get(user)?.membership
          const entitled = desired.members.get(user)
          if (entitled === undefined) {
            // A visitor (public room, no row at all, keep) stays as they were; the rest are out.
            const before = actual?.members.get(user)?.membership
            const stays = isVisitor(desired, ctx, user) ? before : undefined
            expect(membership === "join" || membership === "invite").toBe(stays === "join" || stays === "invite")
            expect(levelOf(after, user)).toBe(0)
          } else {
            const leftAlone = membership === "leave" || membership === "ban"
            if (!leftAlone) expect(["join", "invite"]).toContain(membership)
            const cap = botLevel === Number.POSITIVE_INFINITY ? 100 : botLevel - 1
            expect(levelOf(after, user)).toBe(Math.min(entitled.level, cap))
          }
        }
      }),
      { numRuns: 500 },
    )
  })

  it("no action ever touches a user whose row cannot be decided: membership and level stay as found", () => {
    fc.assert(
      fc.property(arbitraryDesired, arbitraryActual, arbitraryContext, (desired, actual, ctx) => {
        const result = planRoom({ _tag: "Desired", room: desired }, actual, ctx)
        for (const user of desired.undecided.keys()) {
          for (const action of result?.actions ?? []) expect(touchesUser(action, user)).toBe(false)
          if (result === undefined || result.status === "blocked") continue
          const after = simulate(actual, result.actions, ctx)
          expect(after.members.get(user)).toEqual(actual?.members.get(user))
          expect(levelOf(after, user)).toBe(actual === undefined ? 0 : levelOf(actual, user))
        }
        expect(result?.conditions.filter((c) => c.type === "undecided").length ?? 0).toBe(
          result === undefined ? 0 : desired.undecidedRows.length,
        )
      }),
      { numRuns: 500 },
    )
  })

  it("no action ever touches a protected user", () => {
    fc.assert(
      fc.property(arbitraryDesired, arbitraryActual, arbitraryContext, (desired, actual, ctx) => {
        // Even when the database entitles them, protected users are left as found.
        const withProtected = desiredRoom(
          [...desired.members.values()].map((m) => [m.userId, m.level] as const).concat([[u("admin"), 50]]),
        )
        const result = planRoom({ _tag: "Desired", room: withProtected }, actual, ctx)
        for (const action of result?.actions ?? []) {
          for (const user of [ctx.botUserId, u("admin"), "@remote:elsewhere.org"]) {
            expect(touchesUser(action, user)).toBe(false)
          }
        }
      }),
      { numRuns: 500 },
    )
  })

  it("a failed desired state never yields an action", () => {
    fc.assert(
      fc.property(arbitraryDesired, arbitraryActual, arbitraryContext, (desired, actual, ctx) => {
        const result = planRoom({ _tag: "Failed", key: desired.key, alias: desired.alias, problems: [] }, actual, ctx)
        expect(result?.actions).toEqual([])
      }),
      { numRuns: 200 },
    )
  })
})
