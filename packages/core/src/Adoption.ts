import type { ActualRoom } from "./Actual.ts"
import { creatorsHaveInfinitePower } from "./Actual.ts"
import { serverOf } from "./MatrixId.ts"
import type { Condition } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import type { Outranked } from "./PowerLevels.ts"
import { botPowerNeeds, levelOf, parseLevel } from "./PowerLevels.ts"
import { isRecord } from "./Record.ts"

/**
 * What Synapse's admin API `make_room_admin` would do for the bot in one room, computed
 * as Synapse computes it: of the users of the bot's server listed in the power levels
 * (a room version 12 creator before them), the most powerful one who is joined sends a
 * power-levels event giving the bot their level (100 for a creator). It cannot give more
 * power than that member has, and it fails when no such member is joined.
 */
export interface Adoption {
  /** Whose power make_room_admin lends; undefined when it would fail (no joined member of the bot's server holds any). */
  readonly grantor: string | undefined
  readonly levelNow: number
  readonly levelAfter: number
  /** The room as adopting leaves it: the bot joined (adopt joins it) at `levelAfter`. */
  readonly room: ActualRoom
}

export const adoptionOf = (room: ActualRoom, botUserId: string): Adoption => {
  const server = serverOf(botUserId)
  const users = isRecord(room.powerLevels.users) ? room.powerLevels.users : {}
  const level = (user: string) => parseLevel(users[user]) ?? 0
  const candidates = Object.keys(users)
    .filter((user) => serverOf(user) === server)
    .sort((a, b) => level(a) - level(b))
  if (creatorsHaveInfinitePower(room.roomVersion)) {
    candidates.push(...room.creators.filter((user) => serverOf(user) === server))
  }
  const grantor = [...candidates].reverse().find((user) => room.members.get(user)?.membership === "join")
  const levelNow = levelOf(room, botUserId)
  if (grantor === undefined) return { grantor, levelNow, levelAfter: levelNow, room }
  const levelAfter = grantor in users ? level(grantor) : 100
  const members = new Map(room.members)
  members.set(botUserId, { userId: botUserId, membership: "join", sender: botUserId })
  const powerLevels = { ...room.powerLevels, users: { ...users, [botUserId]: levelAfter } }
  return { grantor, levelNow, levelAfter, room: { ...room, members, powerLevels } }
}

/** Whether adopting leaves the bot every level it needs to manage the room. */
export const adoptionManages = (adoption: Adoption, context: RoomContext): boolean =>
  adoption.levelAfter > adoption.levelNow &&
  // Stryker disable next-line ConditionalExpression: 'true' is equivalent, adoptionOf leaves levelAfter at levelNow when there is no grantor, so the level test above already failed; 'false', disabled with it, was killed
  adoption.grantor !== undefined &&
  botPowerNeeds(adoption.room, context).every((need) => need.has >= need.level)

const adoptHint = (adoption: Adoption) =>
  `\`reconciler adopt\` would fix it (Synapse's make_room_admin: ${adoption.grantor} gives the bot ${adoption.levelAfter})`

/**
 * The conditions of a room where the bot lacks power or users sit at or above it, each
 * saying what would fix it: `reconciler adopt` (Synapse's make_room_admin, carrying the
 * room id in `adopt`) when it would, else who can.
 */
export const powerConditions = (
  room: ActualRoom,
  context: RoomContext,
  outranked: ReadonlyArray<Outranked>,
): ReadonlyArray<Condition> => {
  const missing = botPowerNeeds(room, context).filter((need) => need.has < need.level)
  // Most rooms have neither: what adopting would do is worked out only for those that do.
  // Stryker disable next-line ConditionalExpression: 'false' is equivalent, without a missing level or an outranked user the loops below add nothing either (this only saves the work); the other conditions of this line, disabled with it, were killed
  if (missing.length === 0 && outranked.length === 0) return []
  const adoption = adoptionOf(room, context.botUserId)
  const conditions: Array<Condition> = []
  // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' and '>= 0' are equivalent, with no missing level the loop below adds nothing; 'false' and '<= 0', disabled with them, were killed
  if (missing.length > 0) {
    const fixes = adoptionManages(adoption, context)
    const remedy = fixes
      ? adoptHint(adoption)
      : adoption.grantor === undefined
        ? `make_room_admin cannot help: no member of ${serverOf(context.botUserId)} with power is in the room; a room admin of another server must raise the bot`
        : `make_room_admin cannot give the bot more than ${adoption.levelAfter}: a room admin must lower what these need`
    for (const need of missing) {
      conditions.push({
        type: "blocked",
        message: `bot lacks power: ${need.what} needs ${need.level}, the bot has ${need.has}; ${remedy} (docs/operations.md)`,
        ...(fixes ? { adopt: room.roomId } : {}),
      })
    }
  }
  for (const user of outranked) {
    const what = user.needs === "removal" ? "remove" : "demote"
    const base = user.kept
      ? // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, only planPowerLevels marks a user kept, always with a level to demote to (a removal is never kept); 'true' and the whole text's '', disabled with them, were killed
        `${user.userId} keeps level ${user.level} (their role gives ${user.needs === "removal" ? 0 : user.needs.demoteTo}): it is not below the bot's ${adoption.levelNow}`
      : `cannot ${what} ${user.userId}: their level ${user.level} is not below the bot's ${adoption.levelNow}`
    // Stryker disable next-line ConditionalExpression: 'adoption.grantor !== undefined' as true is equivalent, without a grantor levelAfter is levelNow, which an outranked user's level is not below; the other conditions of this line, disabled with it, were killed
    const fixes = adoption.grantor !== undefined && adoption.levelAfter > user.level
    const remedy = fixes
      ? adoptHint(adoption)
      : `only they can lower their own level (in a Matrix client), or a user above ${user.level}; make_room_admin cannot`
    conditions.push({
      type: user.kept ? "level_kept" : "blocked",
      message: `${base}; ${remedy} (docs/operations.md)`,
      ...(fixes ? { adopt: room.roomId } : {}),
    })
  }
  return conditions
}
