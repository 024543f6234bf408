import { isPowerLevelsWrite } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import type { DesiredRoom } from "./Desired.ts"
import { isVisitor } from "./Membership.ts"
import type { RoomPlan } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import { levelOf } from "./PowerLevels.ts"
import { formatRoomKey } from "./RoomKey.ts"

/**
 * Where a user stands: `entitled`; `excluded` by their own row; `undecided` (their row
 * cannot be decided, so they are left as found); `visitor` (in a public room without any
 * row, kept); `not_entitled` (no row, or the room is not open to visitors); `protected`;
 * `unknown` when the room's desired state could not be computed.
 */
export type Standing = "entitled" | "excluded" | "undecided" | "visitor" | "not_entitled" | "protected" | "unknown"

/** Why one user's membership and level in one room are what they are, or will be. */
export interface MemberExplanation {
  readonly user: string
  readonly entitled: boolean
  readonly standing: Standing
  /** The rule that decides: the entitling reason, the excluding one, or why the user is left alone. */
  readonly rule: string
  /** The level the policy wants, when entitled. */
  readonly desiredLevel: number | null
  readonly membership: string | null
  readonly level: number | null
  readonly protected: boolean
  /** What this pass does about them (action types, `held` marked). */
  readonly actions: ReadonlyArray<string>
}

export interface RoomExplanation {
  readonly key: string
  readonly alias: string | null
  readonly roomId: string | null
  readonly status: string
  readonly conditions: RoomPlan["conditions"]
  readonly members: ReadonlyArray<MemberExplanation>
}

/** Every user the database or Matrix associates with a room, rule by rule. */
export const explainRoom = (
  plan: RoomPlan,
  desired: DesiredRoom | undefined,
  actual: ActualRoom | undefined,
  context: RoomContext,
  only?: string,
): RoomExplanation => {
  const users = new Set<string>([
    ...(desired?.members.keys() ?? []),
    ...(desired?.excluded.keys() ?? []),
    ...(desired?.undecided.keys() ?? []),
    ...(actual?.members.keys() ?? []),
  ])
  const members = [...users]
    .filter((user) => only === undefined || user === only)
    .sort()
    .map((user): MemberExplanation => {
      const entitled = desired?.members.get(user)
      const isProt = isProtected(context, user)
      const membership = actual?.members.get(user)?.membership ?? null
      const standing: Standing = isProt
        ? "protected"
        : desired === undefined
          ? "unknown"
          : entitled !== undefined
            ? "entitled"
            : desired.excluded.has(user)
              ? "excluded"
              : desired.undecided.has(user)
                ? "undecided"
                : (membership === "join" || membership === "invite") && isVisitor(desired, context, user)
                  ? "visitor"
                  : "not_entitled"
      const rule = isProt
        ? user === context.botUserId
          ? "the appservice bot (protected)"
          : user.endsWith(`:${context.serverName}`)
            ? "matches protectedUsers or the appservice's exclusive user namespace (never kicked, demoted or promoted)"
            : "on another server (protected)"
        : (entitled?.reason ??
          desired?.excluded.get(user) ??
          (desired === undefined
            ? "the room's desired state is unknown (see conditions)"
            : desired.undecided.has(user)
              ? `their row cannot be decided (${desired.undecided.get(user)})`
              : standing === "visitor"
                ? "visitor: in the public room without an attendee or member row (publicRoomVisitors: keep)"
                : `not entitled to ${plan.key.kind} ${plan.key.entityId}`))
      const actions = plan.actions
        .filter(
          (a) =>
            ("user" in a && a.user === user) ||
            (isPowerLevelsWrite(a) && user in a.changes) ||
            (a.type === "create_room" &&
              // Stryker disable next-line OptionalChaining: 'desired.members' is equivalent, a plan creates a room only from a desired room; '.level' without '?', disabled with it, was killed
              (desired?.members.get(user)?.level ?? 0) > 0),
        )
        .map((a) => `${a.type}${a.held === true ? " (held)" : ""}`)
      return {
        user,
        entitled: entitled !== undefined,
        standing,
        rule,
        desiredLevel: entitled?.level ?? null,
        membership,
        level: actual === undefined ? null : levelOf(actual, user),
        protected: isProt,
        actions,
      }
    })
  return {
    key: formatRoomKey(plan.key),
    alias: plan.alias ?? null,
    roomId: plan.roomId ?? null,
    status: plan.status,
    conditions: plan.conditions,
    members,
  }
}

/** Text for a person: one block per room, one line per user. */
export const explanationToText = (subject: string, rooms: ReadonlyArray<RoomExplanation>): string => {
  if (rooms.length === 0) return `${subject}: no managed room has or should have them.`
  const lines: Array<string> = [`Explaining ${subject}:`, ""]
  for (const room of rooms) {
    lines.push(`${room.key}  ${[room.alias, room.roomId].filter((x) => x !== null).join(" ")}  [${room.status}]`)
    for (const c of room.conditions) lines.push(`    ! ${c.type}: ${c.message}`)
    for (const m of room.members) {
      const now = m.membership === null ? "not in the room" : `${m.membership}, level ${m.level ?? 0}`
      const want = m.entitled
        ? `should be in at level ${m.desiredLevel ?? 0}`
        : m.protected || m.standing === "undecided"
          ? "left as is"
          : m.standing === "visitor"
            ? "may stay, at the room's default level"
            : "should not be in"
      const todo = m.actions.length > 0 ? ` → ${m.actions.join(", ")}` : ""
      lines.push(`    ${m.user}: ${now}; ${want} — ${m.rule}${todo}`)
    }
    lines.push("")
  }
  return lines.join("\n")
}
