import type { LevelChange } from "./Action.ts"
import type { ActualRoom, PowerLevelsContent } from "./Actual.ts"
import { creatorsHaveInfinitePower } from "./Actual.ts"
import type { DesiredRoom } from "./Desired.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import { isRecord } from "./Record.ts"

const numberOr = (value: unknown, fallback: number): number =>
  typeof value === "number" && Number.isFinite(value) ? value : fallback

const usersOf = (content: PowerLevelsContent): Readonly<Record<string, unknown>> =>
  isRecord(content.users) ? content.users : {}

/** A user's level in the room, as Matrix computes it (creators of v12 rooms: Infinity). */
export const levelOf = (room: ActualRoom, userId: string): number => {
  if (creatorsHaveInfinitePower(room.roomVersion) && room.creators.includes(userId)) return Number.POSITIVE_INFINITY
  return numberOr(usersOf(room.powerLevels)[userId], numberOr(room.powerLevels.users_default, 0))
}

/** The level a state event of `eventType` requires. */
const stateLevel = (content: PowerLevelsContent, eventType: string): number => {
  const specific = isRecord(content.events) ? content.events[eventType] : undefined
  return numberOr(specific, numberOr(content.state_default, 50))
}

export interface PowerLevelsOutcome {
  /** The changes to write, empty when the room already matches. */
  readonly changes: Readonly<Record<string, LevelChange>>
  /** The full content carrying every change (only meaningful with changes). */
  readonly content: PowerLevelsContent
  /** Why the bot cannot do what the room needs: each one blocks the room. */
  readonly blocked: ReadonlyArray<string>
  /** The room must be archived: `content` raises `events_default` to 50. */
  readonly archiving: boolean
}

/** Level needed to post in an archived room. */
export const archivedEventsDefault = 50

/** Whether a room already lets only moderators and up post. */
export const isArchived = (room: ActualRoom): boolean =>
  numberOr(room.powerLevels.events_default, 0) >= archivedEventsDefault

/** Whether the bot holds every level it needs to manage the room. */
export const botPowerProblems = (room: ActualRoom, context: RoomContext): ReadonlyArray<string> => {
  const bot = levelOf(room, context.botUserId)
  const needs: Array<[string, number]> = [
    ["m.room.power_levels", stateLevel(room.powerLevels, "m.room.power_levels")],
    ["kick", numberOr(room.powerLevels.kick, 50)],
    ["invite", numberOr(room.powerLevels.invite, 0)],
  ]
  return needs
    .filter(([, level]) => bot < level)
    .map(([what, level]) => `bot lacks power: ${what} needs ${level}, the bot has ${bot}`)
}

/**
 * The desired `users` map: entitled users at their role's level (capped below the bot),
 * protected and undecided users and users the bot cannot change as found, everyone else removed.
 */
export const planPowerLevels = (room: ActualRoom, desired: DesiredRoom, context: RoomContext): PowerLevelsOutcome => {
  const bot = levelOf(room, context.botUserId)
  const cap = bot === Number.POSITIVE_INFINITY ? 100 : bot - 1
  const infiniteCreators = creatorsHaveInfinitePower(room.roomVersion) ? room.creators : []
  const usersDefault = numberOr(room.powerLevels.users_default, 0)
  const current = usersOf(room.powerLevels)
  const next: Record<string, unknown> = {}
  const changes: Record<string, LevelChange> = {}
  const blocked: Array<string> = []

  const wanted = (userId: string): number => Math.min(desired.members.get(userId)?.level ?? 0, cap)

  for (const [userId, value] of Object.entries(current)) {
    const unmanaged = isProtected(context, userId) || infiniteCreators.includes(userId) || desired.undecided.has(userId)
    const from = numberOr(value, usersDefault)
    const to = unmanaged ? from : wanted(userId)
    if (to !== from && from >= bot) {
      blocked.push(`cannot demote ${userId}: their level ${from} is not below the bot's ${bot}`)
      next[userId] = value
      continue
    }
    if (to !== from) changes[userId] = { from, to }
    // A level of 0 is written by removing the entry (unless the room's default is not 0).
    if (unmanaged || to !== 0 || usersDefault !== 0) next[userId] = unmanaged ? value : to
  }
  for (const member of desired.members.values()) {
    if (member.userId in current || isProtected(context, member.userId) || infiniteCreators.includes(member.userId)) {
      continue
    }
    const to = wanted(member.userId)
    if (to !== usersDefault) {
      changes[member.userId] = { from: usersDefault, to }
      next[member.userId] = to
    }
  }
  const archiving = desired.archived && numberOr(room.powerLevels.events_default, 0) < archivedEventsDefault
  const content = {
    ...room.powerLevels,
    ...(archiving ? { events_default: archivedEventsDefault } : {}),
    users: next,
  }
  return { changes, content, blocked, archiving }
}
