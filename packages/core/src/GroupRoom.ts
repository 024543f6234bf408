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
    // Stryker disable next-line ConditionalExpression: equivalent, a user is in byUser only with a row ('true', disabled with it, was killed)
    if (first === undefined) continue
    const identity = room.identityOf("groupMembers", first.id, userId)
    if (identity === undefined) continue
    const matrixId = identity.id
    let best: GroupRole | undefined
    let roleless: string | undefined
    let undecided = false
    for (const row of rows) {
      if (row.role === null && (row.roleId === undefined || row.roleId === null)) {
        // Stryker disable next-line AssignmentOperator: equivalent, roleless is read only when all the user's rows are roleless, and then it is the first row's id, the fallback
        roleless ??= row.id
        continue
      }
      // Stryker disable next-line ConditionalExpression: equivalent, oneOf finds no role equal to null, so a NULL role falls through either way (the whole condition's true and false, disabled with it, were killed)
      if (row.role !== null && oneOf(groupRoles, row.role)) {
        if (
          best === undefined ||
          // Stryker disable next-line EqualityOperator: '<=' is equivalent, an equal rank is the same role; '>=', disabled with it, was killed
          rank(row.role) < rank(best)
        )
          best = row.role
        continue
      }
      // A role the reconciler cannot read could be any role: the user is left as found.
      const why =
        row.role === null
          ? `group role id ${row.roleId} names no groupRoles row`
          : `unknown role ${JSON.stringify(row.role)}`
      room.undecide("groupMembers", row.id, why, matrixId)
      // Stryker disable next-line BooleanLiteral: equivalent, the builder ignores entitle and exclude for a user it holds undecided
      undecided = true
    }
    // Stryker disable next-line ConditionalExpression: equivalent, the builder ignores entitle and exclude for a user it holds undecided ('true', disabled with it, was killed)
    if (undecided) continue
    if (!identity.active) {
      room.exclude(matrixId, "user is not active in OpenMeet")
    } else if (best === undefined) {
      // Stryker disable next-line LogicalOperator: equivalent, roleless is read only when all the user's rows are roleless, and then it is the first row's id, the fallback
      room.exclude(matrixId, `group member row ${roleless ?? first.id} has no role (NULL), not an entitlement`)
    } else if (best === "guest") {
      room.exclude(matrixId, "group role guest is a pending request, not entitled")
    } else {
      room.entitle({ userId: matrixId, level: policy.groupLevels[best], reason: `group role ${best}` })
    }
  }
  return room.finish({
    // Stryker disable next-line StringLiteral: equivalent, a group without a slug fails its room, so this name is never read
    name: group.name ?? group.slug ?? `group ${group.id}`,
    mayCreate: room.status === "published",
    archived: false,
    policy,
  })
}
