import type { DataProblem, DesiredMember, DesiredOutcome, JoinRule } from "./Desired.ts"
import { isValidLocalpart, userIdOf } from "./MatrixId.ts"
import type { AttendeeStatus, EventRole, EventStatus, Policy, Visibility } from "./Policy.ts"
import { attendeeStatuses, eventRoles, eventStatuses, visibilities } from "./Policy.ts"
import { aliasProblem, roomAlias, roomKey } from "./RoomKey.ts"

/** An `events` row, as read (values not yet validated). */
export interface EventFacts {
  readonly id: string
  readonly slug: string | null
  readonly name: string | null
  readonly status: string | null
  readonly visibility: string | null
  readonly ownerId: string | null
  readonly matrixRoomId: string | null
}

/** An `"eventAttendees"` row with its role's name. */
export interface AttendeeFacts {
  readonly id: string
  readonly userId: string
  readonly status: string | null
  readonly role: string | null
}

/** A user with their handle for this tenant, if any. */
export interface UserFacts {
  readonly id: string
  readonly statusId: number | null
  readonly handle: string | null
}

export interface TenantFacts {
  readonly tenant: string
  readonly serverName: string
}

export interface EventRoomOutcome {
  readonly outcome: DesiredOutcome
  /** Entitled users who have no Matrix handle yet (counted, never guessed). */
  readonly pendingHandles: ReadonlyArray<string>
}

const oneOf = <T extends string>(values: ReadonlyArray<T>, value: string): value is T =>
  values.some((candidate) => candidate === value)

const joinRuleFor = (visibility: Visibility, policy: Policy): JoinRule =>
  policy.joinRule === "public" || visibility === "public" ? "public" : "invite"

/** policy.md §2–4 for one event: its room, who is entitled to it, and at which level. */
export const desiredEventRoom = (
  tenant: TenantFacts,
  event: EventFacts,
  attendees: ReadonlyArray<AttendeeFacts>,
  users: ReadonlyMap<string, UserFacts>,
  policy: Policy,
): EventRoomOutcome => {
  const key = roomKey(tenant.tenant, "event", event.id)
  const problems: Array<DataProblem> = []
  const problem = (table: string, id: string, message: string) =>
    problems.push({ tenant: tenant.tenant, table, id, message })

  // OpenMeet's legacy label for unlisted events.
  const visibilityText = event.visibility === "authenticated" ? "unlisted" : (event.visibility ?? "private")
  const visibility: Visibility = oneOf(visibilities, visibilityText) ? visibilityText : "private"
  if (!oneOf(visibilities, visibilityText))
    problem("events", event.id, `unknown visibility ${JSON.stringify(event.visibility)}`)
  // A NULL status is how OpenMeet stores events that were never published.
  const statusText = event.status ?? "draft"
  const status: EventStatus = oneOf(eventStatuses, statusText) ? statusText : "draft"
  if (!oneOf(eventStatuses, statusText)) problem("events", event.id, `unknown status ${JSON.stringify(event.status)}`)

  let alias: string | undefined
  if (event.slug === null || event.slug === "") {
    problem("events", event.id, "slug is NULL or empty, so the room has no alias")
  } else {
    alias = roomAlias("event", event.slug, tenant.tenant, tenant.serverName)
    const aliasIssue = aliasProblem(alias)
    if (aliasIssue !== undefined) {
      problem("events", event.id, aliasIssue)
      alias = undefined
    }
  }

  const members = new Map<string, DesiredMember>()
  const excluded = new Map<string, string>()
  const pendingHandles: Array<string> = []

  /** Resolves a user to a Matrix id, recording why not when it cannot. */
  const matrixIdOf = (table: string, rowId: string, userId: string): string | undefined => {
    const user = users.get(userId)
    if (user === undefined) {
      problem(table, rowId, `points at user ${userId}, which does not exist`)
      return undefined
    }
    if (user.handle === null) {
      pendingHandles.push(userId)
      return undefined
    }
    if (!isValidLocalpart(user.handle)) {
      problem(
        "matrixHandleRegistry",
        `user ${userId}`,
        `handle ${JSON.stringify(user.handle)} is not a valid Matrix localpart`,
      )
      return undefined
    }
    return userIdOf(user.handle, tenant.serverName)
  }
  const isActive = (userId: string) => users.get(userId)?.statusId === 1

  const ownerId = event.ownerId
  let ownerHasRow = false
  for (const attendee of attendees) {
    const attendeeStatus: AttendeeStatus | undefined =
      attendee.status !== null && oneOf(attendeeStatuses, attendee.status) ? attendee.status : undefined
    const roleText = attendee.role ?? "participant"
    const role: EventRole | undefined = oneOf(eventRoles, roleText) ? roleText : undefined
    if (attendeeStatus === undefined)
      problem("eventAttendees", attendee.id, `unknown status ${JSON.stringify(attendee.status)}`)
    if (role === undefined) problem("eventAttendees", attendee.id, `unknown role ${JSON.stringify(attendee.role)}`)
    if (attendee.userId === ownerId) ownerHasRow = true
    const matrixId = matrixIdOf("eventAttendees", attendee.id, attendee.userId)
    if (attendeeStatus === undefined || role === undefined || matrixId === undefined) continue
    const isOwner = attendee.userId === ownerId
    const byStatus = policy.eventEntitledStatuses.has(attendeeStatus)
    const byRole = (role === "host" || role === "moderator") && attendeeStatus !== "rejected"
    if (!isActive(attendee.userId)) {
      excluded.set(matrixId, "user is not active in OpenMeet")
    } else if (byStatus || byRole || isOwner) {
      const reason = isOwner
        ? "event owner"
        : byRole && !byStatus
          ? `role ${role}`
          : `attendee status ${attendeeStatus}`
      members.set(matrixId, { userId: matrixId, level: policy.eventLevels[role], reason })
    } else {
      excluded.set(matrixId, `attendee status ${attendeeStatus} is not entitled`)
    }
  }
  if (ownerId !== null && !ownerHasRow) {
    const matrixId = matrixIdOf("events", event.id, ownerId)
    if (matrixId !== undefined) {
      if (isActive(ownerId)) {
        members.set(matrixId, { userId: matrixId, level: policy.eventLevels.owner, reason: "event owner" })
      } else {
        excluded.set(matrixId, "user is not active in OpenMeet")
      }
    }
  }

  if (problems.length > 0 || alias === undefined) {
    return { outcome: { _tag: "Failed", key, alias, problems }, pendingHandles }
  }
  const cancelled = status === "cancelled"
  const baseName = event.name ?? event.slug ?? `event ${event.id}`
  return {
    outcome: {
      _tag: "Desired",
      room: {
        key,
        alias,
        name: cancelled ? `[Cancelled] ${baseName}` : baseName,
        joinRule: joinRuleFor(visibility, policy),
        historyVisibility: "shared",
        guestAccess: "forbidden",
        mayCreate: status === "published",
        roomIdHint: event.matrixRoomId === null || event.matrixRoomId === "" ? undefined : event.matrixRoomId,
        members,
        excluded,
      },
    },
    pendingHandles,
  }
}
