import type { GroupRole, Policy } from "./Policy.ts"
import { groupRoles, groupStatuses } from "./Policy.ts"
import type { EntityFacts, RoomOutcome, TenantFacts, UserFacts } from "./RoomBuilder.ts"
import { oneOf, roomBuilder } from "./RoomBuilder.ts"

/** A `"groupMembers"` row with its role's name. */
export interface GroupMemberFacts {
  readonly id: string
  readonly userId: string
  readonly role: string | null
}

/** policy.md §2–4 for one group: members by role; a guest is a pending request. */
export const desiredGroupRoom = (
  tenant: TenantFacts,
  group: EntityFacts,
  groupMembers: ReadonlyArray<GroupMemberFacts>,
  users: ReadonlyMap<string, UserFacts>,
  policy: Policy,
): RoomOutcome => {
  const room = roomBuilder(tenant, "group", group, groupStatuses, users)
  for (const member of groupMembers) {
    const role: GroupRole | undefined = member.role !== null && oneOf(groupRoles, member.role) ? member.role : undefined
    if (role === undefined) room.problem("groupMembers", member.id, `unknown role ${JSON.stringify(member.role)}`)
    const matrixId = room.matrixIdOf("groupMembers", member.id, member.userId)
    if (role === undefined || matrixId === undefined) continue
    if (!room.isActive(member.userId)) {
      room.exclude(matrixId, "user is not active in OpenMeet")
    } else if (role === "guest") {
      room.exclude(matrixId, "group role guest is a pending request, not entitled")
    } else {
      room.entitle({ userId: matrixId, level: policy.groupLevels[role], reason: `group role ${role}` })
    }
  }
  return room.finish({
    name: group.name ?? group.slug ?? `group ${group.id}`,
    mayCreate: room.status === "published",
    archived: false,
    policy,
  })
}
