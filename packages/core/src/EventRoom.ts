import type { AttendeeStatus, EventRole, Policy } from "./Policy.ts"
import { attendeeStatuses, eventRoles, eventStatuses } from "./Policy.ts"
import type { EntityFacts, RoomOutcome, TenantFacts, UserFacts } from "./RoomBuilder.ts"
import { oneOf, roomBuilder } from "./RoomBuilder.ts"

/** An `events` row, as read (values not yet validated). */
export interface EventFacts extends EntityFacts {
  readonly ownerId: string | null
}

/** An `"eventAttendees"` row with its role's name (NULL when no `"eventRoles"` row has its role id). */
export interface AttendeeFacts {
  readonly id: string
  readonly userId: string
  readonly status: string | null
  readonly role: string | null
  /** `"roleId"` as found: it has no foreign key, so it can name a role that does not exist. */
  readonly roleId?: string | null
}

/** Why an attendee row without a role name cannot be decided. */
const missingRole = (attendee: AttendeeFacts): string =>
  attendee.roleId === undefined || attendee.roleId === null
    ? "roleId is NULL"
    : `role id ${attendee.roleId} names no eventRoles row`

/** Reasons by kind, status and role: a handful of texts, made once instead of once per attendee. */
const reasons = new Map<string, Map<string | null, Map<string | null, string>>>()
const cached = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
  const found = map.get(key)
  // Stryker disable next-line ConditionalExpression: equivalent, a cache that never hits makes the same text again
  if (found !== undefined) return found
  const made = make()
  // Stryker disable next-line CallExpression: equivalent, a cache that keeps nothing makes the same text again
  map.set(key, made)
  return made
}
const reasonOf = (kind: string, status: string | null, role: string | null, text: () => string): string =>
  cached(
    cached(
      cached(reasons, kind, () => new Map()),
      status,
      () => new Map(),
    ),
    role,
    text,
  )

/** policy.md §2–4 for one event: its room, who is entitled to it, and at which level. */
export const desiredEventRoom = (
  tenant: TenantFacts,
  event: EventFacts,
  attendees: ReadonlyArray<AttendeeFacts>,
  users: ReadonlyMap<string, UserFacts>,
  policy: Policy,
): RoomOutcome => {
  const room = roomBuilder(tenant, "event", event, eventStatuses, users)
  const ownerId = event.ownerId
  let ownerHasRow = false
  for (const attendee of attendees) {
    const isOwner = attendee.userId === ownerId
    if (isOwner) ownerHasRow = true
    const identity = room.identityOf("eventAttendees", attendee.id, attendee.userId)
    if (identity === undefined) continue
    const matrixId = identity.id
    // A role or status the reconciler cannot read costs this user only: left as found.
    // Stryker disable next-line ConditionalExpression: equivalent, oneOf finds no role equal to null, so a NULL role is undecided either way (the whole condition's true and false, disabled with it, were killed)
    if (attendee.role === null || !oneOf(eventRoles, attendee.role)) {
      const why = attendee.role === null ? missingRole(attendee) : `unknown role ${JSON.stringify(attendee.role)}`
      room.undecide("eventAttendees", attendee.id, why, matrixId)
      continue
    }
    const role: EventRole = attendee.role
    if (attendee.status !== null && !oneOf(attendeeStatuses, attendee.status)) {
      room.undecide("eventAttendees", attendee.id, `unknown status ${JSON.stringify(attendee.status)}`, matrixId)
      continue
    }
    // NULL is a status OpenMeet leaves on some rows: it entitles no one by itself.
    const status: AttendeeStatus | null = attendee.status
    // Stryker disable next-line ConditionalExpression: equivalent, no entitled status is null, so has(null) is false either way (the whole condition's true and false, disabled with it, were killed)
    const byStatus = status !== null && policy.eventEntitledStatuses.has(status)
    const byRole = (role === "host" || role === "moderator") && status !== "rejected"
    if (!identity.active) {
      room.exclude(matrixId, "user is not active in OpenMeet")
    } else if (byStatus || byRole || isOwner) {
      const roleNote = role === "participant" ? "" : `, role ${role}`
      // The kinds only keep the cached texts apart: any other distinct key would do.
      const reason = isOwner
        ? reasonOf(
            // Stryker disable next-line StringLiteral: equivalent, "" is another key no other kind uses
            "owner",
            null,
            role,
            () => `event owner${roleNote}`,
          )
        : byRole && !byStatus
          ? reasonOf(
              // Stryker disable next-line StringLiteral: equivalent, "" is another key no other kind uses
              "role",
              null,
              role,
              () => `role ${role}`,
            )
          : reasonOf(
              // Stryker disable next-line StringLiteral: equivalent, "" is another key no other kind uses
              "status",
              status,
              role,
              () => `attendee status ${status}${roleNote}`,
            )
      room.entitle({ userId: matrixId, level: policy.eventLevels[role], reason })
    } else {
      room.exclude(
        matrixId,
        reasonOf(
          // Stryker disable next-line StringLiteral: equivalent, "" is another key no other kind uses
          "excluded",
          status,
          null,
          () => `attendee status ${status ?? "NULL"} is not entitled`,
        ),
      )
    }
  }
  if (ownerId !== null && !ownerHasRow) {
    const identity = room.identityOf("events", event.id, ownerId)
    if (identity !== undefined) {
      if (identity.active) {
        room.entitle({ userId: identity.id, level: policy.eventLevels.owner, reason: "event owner" })
      } else {
        room.exclude(identity.id, "user is not active in OpenMeet")
      }
    }
  }
  // Stryker disable next-line StringLiteral: equivalent, an event without a slug fails its room, so this name is never read
  const baseName = event.name ?? event.slug ?? `event ${event.id}`
  return room.finish({
    name: room.status === "cancelled" ? `[Cancelled] ${baseName}` : baseName,
    mayCreate: room.status === "published",
    archived: room.status === "cancelled",
    policy,
  })
}
