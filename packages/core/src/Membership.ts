import type { Action } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import type { DesiredRoom } from "./Desired.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import type { Outranked } from "./PowerLevels.ts"
import { botMayRemove, levelOf } from "./PowerLevels.ts"

export interface MembershipOutcome {
  readonly actions: ReadonlyArray<Action>
  /** Users left alone on purpose that an operator should know about (bans). */
  readonly banned: ReadonlyArray<string>
  /** Users who should go but cannot be removed (Synapse refuses a kick of a user not below the bot). */
  readonly cannotRemove: ReadonlyArray<Outranked>
  /** Visitors left in the room (`publicRoomVisitors: keep`). */
  readonly visitors: ReadonlyArray<string>
}

/**
 * A visitor: in a public room without any row for it (entitling, excluding or undecided),
 * kept when the tenant keeps visitors. OpenMeet's public rooms are open to anyone on the
 * server; an invite there grants nothing the join rule does not.
 */
export const isVisitor = (desired: DesiredRoom, context: RoomContext, userId: string): boolean =>
  desired.joinRule === "public" &&
  context.policy.publicRoomVisitors === "keep" &&
  !desired.members.has(userId) &&
  !desired.excluded.has(userId) &&
  !desired.undecided.has(userId)

/** The membership table of policy.md §3, for every managed user of one room. */
export const planMembership = (
  room: ActualRoom | undefined,
  desired: DesiredRoom,
  context: RoomContext,
): MembershipOutcome => {
  const { policy, botUserId } = context
  const admit = (user: string, reason: string): Action =>
    policy.membershipMode === "join" ? { type: "join", user, reason } : { type: "invite", user, reason }
  const admissions: Array<Action> = []
  const kicks: Array<Action> = []
  const banned: Array<string> = []
  const cannotRemove: Array<Outranked> = []
  const visitors: Array<string> = []

  for (const member of desired.members.values()) {
    if (isProtected(context, member.userId)) continue
    const actual = room?.members.get(member.userId)
    switch (actual?.membership) {
      case undefined:
        admissions.push(admit(member.userId, member.reason))
        break
      case "knock":
        admissions.push(admit(member.userId, `${member.reason}; they knocked`))
        break
      case "leave":
        if (actual.sender === member.userId) {
          if (!policy.respectLeave) admissions.push(admit(member.userId, `${member.reason}; they had left`))
        } else if (actual.sender === botUserId) {
          admissions.push(admit(member.userId, `${member.reason}; entitled again after the bot removed them`))
        } else if (!policy.respectKicks) {
          admissions.push(admit(member.userId, `${member.reason}; kicked by ${actual.sender}`))
        }
        break
      case "ban":
        banned.push(member.userId)
        break
      case "invite":
        // Join mode wants people in the room; an invite left by an interrupted run is finished.
        if (policy.membershipMode === "join") {
          admissions.push({ type: "join", user: member.userId, reason: `${member.reason}; invited, not joined yet` })
        }
        break
      // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, a member who joined needs nothing, as when no case matches
      case "join":
        break
    }
  }

  // Stryker disable next-line ArrayDeclaration: equivalent, without a room any stand-in entry has no membership and is skipped
  for (const actual of room?.members.values() ?? []) {
    if (actual.membership !== "invite" && actual.membership !== "join") continue
    if (desired.members.has(actual.userId) || isProtected(context, actual.userId)) continue
    // A row the reconciler cannot decide leaves its user as found.
    if (desired.undecided.has(actual.userId)) continue
    if (isVisitor(desired, context, actual.userId)) {
      visitors.push(actual.userId)
      continue
    }
    // Stryker disable next-line ConditionalExpression: equivalent, members are only iterated when the room exists
    if (room !== undefined && !botMayRemove(room, context, actual.userId)) {
      cannotRemove.push({ userId: actual.userId, level: levelOf(room, actual.userId), needs: "removal", kept: false })
      continue
    }
    const rule = desired.excluded.get(actual.userId) ?? `not entitled to ${desired.key.kind} ${desired.key.entityId}`
    kicks.push({ type: "kick", user: actual.userId, reason: rule })
  }
  return { actions: [...admissions, ...kicks], banned, cannotRemove, visitors }
}
