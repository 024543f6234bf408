import type { AttendeeStatus, EventRole, Policy } from "./Policy.ts"
import { attendeeStatuses, eventRoles, eventStatuses } from "./Policy.ts"
import type { EntityFacts, RoomOutcome, TenantFacts, UserFacts } from "./RoomBuilder.ts"
import { oneOf, roomBuilder } from "./RoomBuilder.ts"

/** An `events` row, as read (values not yet validated). */
export interface EventFacts extends EntityFacts {
  readonly ownerId: string | null
}

/** An `"eventAttendees"` row with its role's name. */
export interface AttendeeFacts {
  readonly id: string
  readonly userId: string
  readonly status: string | null
  readonly role: string | null
}

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
    const status: AttendeeStatus | undefined =
      attendee.status !== null && oneOf(attendeeStatuses, attendee.status) ? attendee.status : undefined
    const roleText = attendee.role ?? "participant"
    const role: EventRole | undefined = oneOf(eventRoles, roleText) ? roleText : undefined
    if (status === undefined) {
      room.problem("eventAttendees", attendee.id, `unknown status ${JSON.stringify(attendee.status)}`)
    }
    if (role === undefined) room.problem("eventAttendees", attendee.id, `unknown role ${JSON.stringify(attendee.role)}`)
    const isOwner = attendee.userId === ownerId
    if (isOwner) ownerHasRow = true
    const matrixId = room.matrixIdOf("eventAttendees", attendee.id, attendee.userId)
    if (status === undefined || role === undefined || matrixId === undefined) continue
    const byStatus = policy.eventEntitledStatuses.has(status)
    const byRole = (role === "host" || role === "moderator") && status !== "rejected"
    if (!room.isActive(attendee.userId)) {
      room.exclude(matrixId, "user is not active in OpenMeet")
    } else if (byStatus || byRole || isOwner) {
      const roleNote = role === "participant" ? "" : `, role ${role}`
      const reason = isOwner
        ? `event owner${roleNote}`
        : byRole && !byStatus
          ? `role ${role}`
          : `attendee status ${status}${roleNote}`
      room.entitle({ userId: matrixId, level: policy.eventLevels[role], reason })
    } else {
      room.exclude(matrixId, `attendee status ${status} is not entitled`)
    }
  }
  if (ownerId !== null && !ownerHasRow) {
    const matrixId = room.matrixIdOf("events", event.id, ownerId)
    if (matrixId !== undefined) {
      if (room.isActive(ownerId)) {
        room.entitle({ userId: matrixId, level: policy.eventLevels.owner, reason: "event owner" })
      } else {
        room.exclude(matrixId, "user is not active in OpenMeet")
      }
    }
  }
  const baseName = event.name ?? event.slug ?? `event ${event.id}`
  return room.finish({
    name: room.status === "cancelled" ? `[Cancelled] ${baseName}` : baseName,
    mayCreate: room.status === "published",
    archived: room.status === "cancelled",
    policy,
  })
}
