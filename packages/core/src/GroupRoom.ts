import type { GroupRole, Policy } from "./Policy.ts"
import { groupRoles, groupStatuses } from "./Policy.ts"
import type { EntityFacts, RoomOutcome, TenantFacts, UserFacts } from "./RoomBuilder.ts"
import { oneOf, roomBuilder } from "./RoomBuilder.ts"

/**
 * A `"groupMembers"` row with its role's name. Every column may be NULL in OpenMeet, and a
 * user can have several rows in one group.
 */
export interface GroupMemberFacts {
  readonly id: string
  readonly userId: string | null
  readonly role: string | null
  /** `"groupRoleId"` as found; a role name of NULL with a role id means the role row is missing. */
  readonly roleId?: string | null
}

/** Roles from the highest down: of a user's duplicate rows, the highest role counts. */
const rank = (role: GroupRole): number => groupRoles.indexOf(role)

/** policy.md §2–4 for one group: members by role; a guest is a pending request. */
export const desiredGroupRoom = (
  tenant: TenantFacts,
  group: EntityFacts,
  groupMembers: ReadonlyArray<GroupMemberFacts>,
  users: ReadonlyMap<string, UserFacts>,
  policy: Policy,
): RoomOutcome => {
  const room = roomBuilder(tenant, "group", group, groupStatuses, users)
  // A row without a user entitles no one: there is no one to name.
  const byUser = new Map<string, Array<GroupMemberFacts>>()
  for (const member of groupMembers) {
    if (member.userId === null) continue
    const rows = byUser.get(member.userId)
    if (rows === undefined) byUser.set(member.userId, [member])
    else rows.push(member)
  }
  for (const [userId, rows] of byUser) {
    const first = rows[0]
    if (first === undefined) continue
    const identity = room.identityOf("groupMembers", first.id, userId)
    if (identity === undefined) continue
    const matrixId = identity.id
    let best: GroupRole | undefined
    let roleless: string | undefined
    let undecided = false
    for (const row of rows) {
      if (row.role === null && (row.roleId === undefined || row.roleId === null)) {
        roleless ??= row.id
        continue
      }
      if (row.role !== null && oneOf(groupRoles, row.role)) {
        if (best === undefined || rank(row.role) < rank(best)) best = row.role
        continue
      }
      // A role the reconciler cannot read could be any role: the user is left as found.
      const why =
        row.role === null
          ? `group role id ${row.roleId} names no groupRoles row`
          : `unknown role ${JSON.stringify(row.role)}`
      room.undecide("groupMembers", row.id, why, matrixId)
      undecided = true
    }
    if (undecided) continue
    if (!identity.active) {
      room.exclude(matrixId, "user is not active in OpenMeet")
    } else if (best === undefined) {
      room.exclude(matrixId, `group member row ${roleless ?? first.id} has no role (NULL), not an entitlement`)
    } else if (best === "guest") {
      room.exclude(matrixId, "group role guest is a pending request, not entitled")
    } else {
      room.entitle({ userId: matrixId, level: policy.groupLevels[best], reason: `group role ${best}` })
    }
  }
  return room.finish({
    name: group.name ?? group.slug ?? `group ${group.id}`,
    mayCreate: room.status === "published",
    archived: false,
    policy,
  })
}
