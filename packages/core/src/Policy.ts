import type { RoomKind } from "./RoomKey.ts"

/** OpenMeet's event attendee statuses. */
export const attendeeStatuses = [
  "invited",
  "confirmed",
  "attended",
  "cancelled",
  "rejected",
  "maybe",
  "pending",
  "waitlist",
] as const
export type AttendeeStatus = (typeof attendeeStatuses)[number]

export const eventRoles = ["participant", "host", "speaker", "moderator", "guest"] as const
export type EventRole = (typeof eventRoles)[number]

export const groupRoles = ["owner", "admin", "moderator", "member", "guest"] as const
export type GroupRole = (typeof groupRoles)[number]

export const eventStatuses = ["draft", "pending", "published", "cancelled"] as const
export type EventStatus = (typeof eventStatuses)[number]

export const groupStatuses = ["draft", "pending", "published"] as const
export type GroupStatus = (typeof groupStatuses)[number]

export const visibilities = ["public", "unlisted", "private"] as const
export type Visibility = (typeof visibilities)[number]

/** The tunable part of policy.md, per tenant. */
export interface Policy {
  readonly eventEntitledStatuses: ReadonlySet<AttendeeStatus>
  readonly eventLevels: Readonly<Record<EventRole, number>> & { readonly owner: number }
  readonly groupLevels: Readonly<Record<GroupRole, number>>
  readonly joinRule: "byVisibility" | "public"
  readonly membershipMode: "invite" | "join"
  readonly respectLeave: boolean
  readonly respectKicks: boolean
  /** Patterns (whole-id matches); a matching user id is never kicked, demoted or promoted. */
  readonly protectedUsers: ReadonlyArray<UserPattern>
  readonly limits: Limits
  /** What to do with a room in our namespace whose event or group is gone. */
  readonly orphanPolicy: "report" | "archive" | "evict"
  /**
   * Users in a public room without any attendee or member row (visitors): `keep` leaves
   * them as OpenMeet does (its rooms are open), `remove` kicks them.
   */
  readonly publicRoomVisitors: "keep" | "remove"
}

/** A compiled user-id pattern; a `RegExp` is one, so is a linear-time RE2 matcher. */
export interface UserPattern {
  readonly source: string
  readonly test: (userId: string) => boolean
}

/** Caps on destructive actions (kicks, demotions) per pass; the rest is held. */
export interface Limits {
  readonly maxDestructivePerPass: number
  /** Per room: the larger of this number… */
  readonly maxDestructivePerRoom: number
  /** …and this share of the room's current members. */
  readonly maxDestructiveRoomFraction: number
}

export const defaultPolicy: Policy = {
  eventEntitledStatuses: new Set<AttendeeStatus>(["confirmed", "attended", "cancelled"]),
  eventLevels: { host: 99, moderator: 50, speaker: 25, participant: 0, guest: 0, owner: 99 },
  groupLevels: { owner: 99, admin: 75, moderator: 50, member: 0, guest: 0 },
  joinRule: "byVisibility",
  membershipMode: "invite",
  respectLeave: true,
  respectKicks: true,
  protectedUsers: [],
  limits: { maxDestructivePerPass: 100, maxDestructivePerRoom: 5, maxDestructiveRoomFraction: 0.2 },
  orphanPolicy: "report",
  publicRoomVisitors: "keep",
}

/** What the planner needs to know about the tenant a room belongs to. */
export interface RoomContext {
  readonly policy: Policy
  readonly serverName: string
  /** The appservice bot's user id (`@<sender_localpart>:<serverName>`). */
  readonly botUserId: string
  readonly kind: RoomKind
}

/** Protected users are never kicked, demoted or have their level touched. */
export const isProtected = (context: RoomContext, userId: string): boolean =>
  userId === context.botUserId ||
  !isOnServer(userId, context.serverName) ||
  context.policy.protectedUsers.some((pattern) => pattern.test(userId))

/** Whether a user id ends with `:<serverName>` (without building that text for every user). */
const isOnServer = (userId: string, serverName: string): boolean =>
  userId.endsWith(serverName) && userId.charCodeAt(userId.length - serverName.length - 1) === 58
