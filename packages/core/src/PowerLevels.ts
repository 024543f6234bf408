import type { LevelChange } from "./Action.ts"
import type { ActualRoom, PowerLevelsContent } from "./Actual.ts"
import { creatorsHaveInfinitePower } from "./Actual.ts"
import type { DesiredRoom } from "./Desired.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import { isRecord } from "./Record.ts"

/** Python's `int()` of a string: optional sign, digits with single underscores between them, spaces around. */
const integerText = /^\s*[+-]?[0-9]+(?:_[0-9]+)*\s*$/

/**
 * A power level as Synapse reads one: `int()` of the JSON value. Room versions 1–9 accept
 * `"50"` (and a float or a boolean) where later versions require an integer; Synapse
 * compares them all as integers. `undefined` when the value is not a level at all (an
 * object, a list, `"fifty"`): a room holding one is blocked, never guessed about.
 */
export const parseLevel = (value: unknown): number | undefined => {
  // `+ 0` turns Math.trunc's -0 into 0.
  if (typeof value === "number") return Number.isFinite(value) ? Math.trunc(value) + 0 : undefined
  if (typeof value === "boolean") return value ? 1 : 0
  if (typeof value === "string" && integerText.test(value)) return Number.parseInt(value.replaceAll("_", ""), 10)
  return undefined
}

/** A level where `null` or absence means the default, as Synapse reads `users_default` and the named levels. */
const levelOr = (value: unknown, fallback: number): number => {
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, parseLevel reads neither undefined nor null as a level, so the fallback follows either way
  if (value === undefined || value === null) return fallback
  return parseLevel(value) ?? fallback
}

const usersOf = (content: PowerLevelsContent): Readonly<Record<string, unknown>> =>
  isRecord(content.users) ? content.users : {}

const usersDefaultOf = (content: PowerLevelsContent): number => levelOr(content.users_default, 0)

/** A user's level in the room, as Matrix computes it (creators of v12 rooms: Infinity). */
export const levelOf = (room: ActualRoom, userId: string): number => {
  if (creatorsHaveInfinitePower(room.roomVersion) && room.creators.includes(userId)) return Number.POSITIVE_INFINITY
  return levelOr(usersOf(room.powerLevels)[userId], usersDefaultOf(room.powerLevels))
}

/** The level a state event of `eventType` requires. */
export const stateLevel = (content: PowerLevelsContent, eventType: string): number => {
  const specific = isRecord(content.events) ? content.events[eventType] : undefined
  return levelOr(specific, levelOr(content.state_default, 50))
}

/** A named level (`kick`, `invite`, `events_default`…) with Matrix's default. */
export const namedLevel = (content: PowerLevelsContent, name: string, fallback: number): number =>
  levelOr(content[name], fallback)

/**
 * Entries of the power-levels event that are not levels at all: the room is blocked, since
 * a write would have to drop or rewrite them and Synapse's own reading of them is unknown.
 */
export const invalidLevels = (content: PowerLevelsContent): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const check = (where: string, value: unknown) => {
    if (value !== undefined && value !== null && parseLevel(value) === undefined) {
      problems.push(`power level ${where} is ${JSON.stringify(value)}, not a level`)
    }
  }
  for (const name of ["users_default", "events_default", "state_default", "ban", "kick", "redact", "invite"]) {
    check(name, content[name])
  }
  for (const [section, value] of [
    ["users", content.users],
    ["events", content.events],
  ] as const) {
    if (value === undefined) continue
    if (!isRecord(value)) {
      const kind = value === null ? "null" : Array.isArray(value) ? "a list" : typeof value
      problems.push(`power levels "${section}" is ${kind}, not a map`)
      continue
    }
    for (const [key, entry] of Object.entries(value)) check(`of ${key}`, entry)
  }
  return problems
}

export interface PowerLevelsOutcome {
  /** The changes to write, empty when the room already matches. */
  readonly changes: Readonly<Record<string, LevelChange>>
  /** The full content carrying every change (only meaningful with changes). */
  readonly content: PowerLevelsContent
  /** Users at or above the bot whose level the room needs lower: their entries are kept. */
  readonly outranked: ReadonlyArray<Outranked>
  /** The room must be archived: `content` raises `events_default` to 50. */
  readonly archiving: boolean
  /** The room is archived but its entity is active again: `content` lowers `events_default` to 0. */
  readonly unarchiving: boolean
}

/** Level needed to post in an archived room. */
export const archivedEventsDefault = 50

/** Whether a room already lets only moderators and up post. */
export const isArchived = (room: ActualRoom): boolean =>
  namedLevel(room.powerLevels, "events_default", 0) >= archivedEventsDefault

/** A level the bot needs to manage the room (power levels, kick, invite) and the level it has. */
export interface PowerNeed {
  readonly what: "m.room.power_levels" | "kick" | "invite"
  readonly level: number
  readonly has: number
}

/** The levels the bot needs to manage the room: it lacks power where `has` is below `level`. */
export const botPowerNeeds = (room: ActualRoom, context: RoomContext): ReadonlyArray<PowerNeed> => {
  const has = levelOf(room, context.botUserId)
  return [
    { what: "m.room.power_levels", level: stateLevel(room.powerLevels, "m.room.power_levels"), has },
    { what: "kick", level: namedLevel(room.powerLevels, "kick", 50), has },
    { what: "invite", level: namedLevel(room.powerLevels, "invite", 0), has },
  ]
}

/** Whether the bot lacks any level it needs to manage the room. */
export const botLacksPower = (room: ActualRoom, context: RoomContext): boolean =>
  botPowerNeeds(room, context).some((need) => need.has < need.level)

/**
 * A user at or above the bot whom the room needs lower or gone: Matrix lets nobody but
 * a user above them (or they themselves) do that, so the bot sends no request for them.
 */
export interface Outranked {
  readonly userId: string
  readonly level: number
  readonly needs: { readonly demoteTo: number } | "removal"
  /**
   * Entitled with a role that still grants power (a legacy host at 100 whose role gives
   * 99): they keep their level and the room is not blocked for it.
   */
  readonly kept: boolean
}

/** Whether the bot may send a state event of this type (Synapse refuses it otherwise). */
export const botMaySend = (room: ActualRoom, context: RoomContext, eventType: string): boolean =>
  levelOf(room, context.botUserId) >= stateLevel(room.powerLevels, eventType)

/** Whether the bot may kick this user: Synapse requires the target to be below the sender. */
export const botMayRemove = (room: ActualRoom, context: RoomContext, userId: string): boolean =>
  levelOf(room, userId) < levelOf(room, context.botUserId)

/** What the planner knows about a room beyond its state. */
export interface PowerLevelsFacts {
  /** The reconciler itself archived this room (its audit log says so): it may lift the archive. */
  readonly archivedByReconciler: boolean
}

/**
 * The desired `users` map: entitled users at their role's level (capped below the bot),
 * protected and undecided users and users the bot cannot change as found, everyone else
 * removed. Entries are compared as Synapse reads them (`"50"` is 50) and written back as
 * found when their level does not change.
 */
export const planPowerLevels = (
  room: ActualRoom,
  desired: DesiredRoom,
  context: RoomContext,
  // Stryker disable next-line ObjectLiteral: equivalent, an absent archivedByReconciler reads as false
  facts: PowerLevelsFacts = { archivedByReconciler: false },
): PowerLevelsOutcome => {
  const bot = levelOf(room, context.botUserId)
  // Stryker disable next-line ConditionalExpression: equivalent, no role grants more than 100, so an infinite cap caps nothing more
  const cap = bot === Number.POSITIVE_INFINITY ? 100 : bot - 1
  // Stryker disable next-line ArrayDeclaration: equivalent, a stand-in entry is no user id
  const infiniteCreators = creatorsHaveInfinitePower(room.roomVersion) ? room.creators : []
  const usersDefault = usersDefaultOf(room.powerLevels)
  const current = usersOf(room.powerLevels)
  const next: Record<string, unknown> = {}
  const changes: Record<string, LevelChange> = {}
  const outranked: Array<Outranked> = []

  const wanted = (userId: string): number => Math.min(desired.members.get(userId)?.level ?? usersDefault, cap)

  // The users listed now, as a set: a desired member's id is built text, and asking an
  // object for it (`in`) would look it up among all interned strings, once per member.
  const listed = new Set<string>()
  for (const [userId, value] of Object.entries(current)) {
    listed.add(userId)
    const unmanaged = isProtected(context, userId) || infiniteCreators.includes(userId) || desired.undecided.has(userId)
    const from = levelOr(value, usersDefault)
    const to = unmanaged ? from : wanted(userId)
    if (to !== from && from >= bot) {
      const kept = desired.members.has(userId) && to > usersDefault
      outranked.push({ userId, level: from, needs: { demoteTo: to }, kept })
      next[userId] = value
      continue
    }
    if (to === from) {
      // Unchanged entries stay exactly as written (`"50"` stays a string in a version 1–9 room).
      next[userId] = value
      continue
    }
    changes[userId] = { from, to }
    // The default level is written by removing the entry.
    if (to !== usersDefault) next[userId] = to
  }
  for (const member of desired.members.values()) {
    if (listed.has(member.userId) || isProtected(context, member.userId) || infiniteCreators.includes(member.userId)) {
      continue
    }
    const to = wanted(member.userId)
    if (to !== usersDefault) {
      changes[member.userId] = { from: usersDefault, to }
      next[member.userId] = to
    }
  }
  const archived = isArchived(room)
  const archiving = desired.archived && !archived
  const unarchiving = !desired.archived && archived && facts.archivedByReconciler
  const content = {
    ...room.powerLevels,
    ...(archiving ? { events_default: archivedEventsDefault } : {}),
    ...(unarchiving ? { events_default: 0 } : {}),
    users: next,
  }
  return { changes, content, outranked, archiving, unarchiving }
}
