import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import type { Action, ActualMember, ActualRoom, DesiredRoom, Membership, RoomContext } from "../src/index.ts"
import {
  isPowerLevelsWrite,
  isProtected,
  isVisitor,
  levelOf,
  namedLevel,
  parseLevel,
  planRoom,
  stateLevel,
} from "../src/index.ts"
import { actualRoom, bot, context, defaultPowerLevels, desiredRoom, u } from "./fixtures.ts"

/** Synapse's verdict on a request the bot sends: undefined when accepted, else why it is refused (403/400). */
const refusal = (state: ActualRoom, action: Action, ctx: RoomContext): string | undefined => {
  const bot = levelOf(state, ctx.botUserId)
  const stateEvent: Partial<Record<Action["type"], string>> = {
    set_name: "m.room.name",
    set_join_rule: "m.room.join_rules",
    set_history_visibility: "m.room.history_visibility",
    set_guest_access: "m.room.guest_access",
    set_canonical_alias: "m.room.canonical_alias",
  }
  const eventType = stateEvent[action.type]
  if (eventType !== undefined && bot < stateLevel(state.powerLevels, eventType)) return `${eventType}: bot too low`
  if (action.type === "invite" && bot < namedLevel(state.powerLevels, "invite", 0)) return "invite: bot too low"
  if (action.type === "kick") {
    if (bot < namedLevel(state.powerLevels, "kick", 50)) return "kick: bot too low"
    if (levelOf(state, action.user) >= bot) return `kick ${action.user}: not below the bot`
  }
  if (isPowerLevelsWrite(action)) {
    if (bot < stateLevel(state.powerLevels, "m.room.power_levels")) return "power levels: bot too low"
    const integersOnly = Number.parseInt(state.roomVersion, 10) >= 10
    const oldUsers = (state.powerLevels.users ?? {}) as Record<string, unknown>
    const newUsers = (action.content.users ?? {}) as Record<string, unknown>
    for (const user of new Set([...Object.keys(oldUsers), ...Object.keys(newUsers)])) {
      const before = user in oldUsers ? parseLevel(oldUsers[user]) : undefined
      const after = user in newUsers ? parseLevel(newUsers[user]) : undefined
      if (user in newUsers && (after === undefined || (integersOnly && !Number.isInteger(newUsers[user])))) {
        return `power levels: ${user} is not an integer level`
      }
      if (before === after) continue
      if (user !== ctx.botUserId && before === bot) return `power levels: ${user} is at the bot's own level`
      if ((before ?? 0) > bot || (after ?? 0) > bot) return `power levels: ${user} above the bot`
    }
    for (const name of ["events_default", "users_default", "state_default", "kick", "invite", "ban", "redact"]) {
      const before = parseLevel(state.powerLevels[name])
      const after = parseLevel(action.content[name])
      if (before !== after && ((before ?? 0) > bot || (after ?? 0) > bot)) return `power levels: ${name} above the bot`
    }
  }
  return undefined
}

/** A model of what the homeserver does with each action: it refuses what Synapse refuses. */
const simulate = (room: ActualRoom | undefined, actions: ReadonlyArray<Action>, ctx: RoomContext): ActualRoom => {
  let state: ActualRoom = room ?? actualRoom([])
  const setMember = (userId: string, membership: Membership, sender: string) => {
    const members = new Map(state.members)
    members.set(userId, { userId, membership, sender } satisfies ActualMember)
    state = { ...state, members }
  }
  for (const action of actions) {
    const refused = action.type === "create_room" ? undefined : refusal(state, action, ctx)
    if (refused !== undefined) throw new Error(`Synapse refuses ${action.type}: ${refused}`)
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
      case "unarchive":
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
      version: fc.constantFrom("9", "10", "11", "12"),
      // Room versions 1–9 allow levels written as strings ("50"), which Synapse reads as integers.
      stringLevels: fc.boolean(),
      name: fc.constantFrom("Party", "Old name"),
      joinRule: fc.constantFrom("public", "invite", "knock"),
    })
    .map(({ members, users, botLevel, version, name, joinRule, stringLevels }) => {
      const sender = (user: string, who: "self" | "bot" | "other") =>
        who === "self" ? user : who === "bot" ? bot : u("moderator")
      const v12 = version === "12"
      const written: Record<string, number | string> =
        stringLevels && version === "9"
          ? Object.fromEntries(Object.entries(users).map(([user, level]) => [user, String(level)]))
          : users
      return actualRoom(
        members.map(([user, [membership, who]]) => [user, membership, sender(user, who)] as const),
        {},
        {
          roomVersion: version,
          name,
          joinRule,
          powerLevels: { ...defaultPowerLevels({}), users: v12 ? written : { ...written, [bot]: botLevel } },
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
            // A user at or above the bot whose role still grants power keeps their level.
            const kept = first.conditions.some((c) => c.type === "level_kept" && c.message.startsWith(`${user} keeps`))
            const before = actual === undefined ? 0 : levelOf(actual, user)
            expect(levelOf(after, user)).toBe(kept ? before : Math.min(entitled.level, cap))
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
