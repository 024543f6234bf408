import type { DataProblem, DesiredMember, DesiredOutcome, JoinRule } from "./Desired.ts"
import { isValidLocalpart, userIdOf } from "./MatrixId.ts"
import type { Policy, Visibility } from "./Policy.ts"
import { visibilities } from "./Policy.ts"
import type { EntityKind } from "./RoomKey.ts"
import { aliasProblem, roomAlias, roomKey } from "./RoomKey.ts"

/** The columns of an `events` or `groups` row that decide its room. */
export interface EntityFacts {
  readonly id: string
  readonly slug: string | null
  readonly name: string | null
  readonly status: string | null
  readonly visibility: string | null
  readonly matrixRoomId: string | null
}

/** A user with their handle for this tenant, if any. */
export interface UserFacts {
  readonly id: string
  readonly statusId: number | null
  readonly handle: string | null
  /** Set when the handle cannot identify this user alone (another user has it too). */
  readonly conflict?: string
}

export interface TenantFacts {
  readonly tenant: string
  readonly serverName: string
}

export interface RoomOutcome {
  readonly outcome: DesiredOutcome
  /** Entitled users who have no Matrix handle yet (counted, never guessed). */
  readonly pendingHandles: ReadonlyArray<string>
}

export const oneOf = <T extends string>(values: ReadonlyArray<T>, value: string): value is T =>
  values.some((candidate) => candidate === value)

/**
 * Collects what one entity's rows say about its room: the alias and settings from the
 * entity row, entitled and excluded users from its member rows, and every problem
 * with the data, named by tenant, table and row id. Any problem fails the room.
 */
export const roomBuilder = <S extends string>(
  tenant: TenantFacts,
  kind: EntityKind,
  entity: EntityFacts,
  statuses: ReadonlyArray<S>,
  users: ReadonlyMap<string, UserFacts>,
) => {
  const table = kind === "event" ? "events" : "groups"
  const problems: Array<DataProblem> = []
  const problem = (rowTable: string, id: string, message: string) =>
    problems.push({ tenant: tenant.tenant, table: rowTable, id, message })

  // OpenMeet's legacy label for unlisted; NULL is read as the most restrictive.
  const visibilityText = entity.visibility === "authenticated" ? "unlisted" : (entity.visibility ?? "private")
  const visibility: Visibility = oneOf(visibilities, visibilityText) ? visibilityText : "private"
  if (!oneOf(visibilities, visibilityText)) {
    problem(table, entity.id, `unknown visibility ${JSON.stringify(entity.visibility)}`)
  }
  // A NULL status is how OpenMeet stores entities that were never published.
  const statusText = entity.status ?? "draft"
  const status: S | undefined = oneOf(statuses, statusText) ? statusText : undefined
  if (status === undefined) problem(table, entity.id, `unknown status ${JSON.stringify(entity.status)}`)

  let alias: string | undefined
  if (entity.slug === null || entity.slug === "") {
    problem(table, entity.id, "slug is NULL or empty, so the room has no alias")
  } else {
    alias = roomAlias(kind, entity.slug, tenant.tenant, tenant.serverName)
    const aliasIssue = aliasProblem(alias)
    if (aliasIssue !== undefined) {
      problem(table, entity.id, aliasIssue)
      alias = undefined
    }
  }

  const members = new Map<string, DesiredMember>()
  const excluded = new Map<string, string>()
  const pendingHandles: Array<string> = []

  return {
    status,
    problem,
    /** Resolves a user to a Matrix id, recording why not when it cannot. */
    matrixIdOf: (rowTable: string, rowId: string, userId: string): string | undefined => {
      const user = users.get(userId)
      if (user === undefined) {
        problem(rowTable, rowId, `points at user ${userId}, which does not exist`)
        return undefined
      }
      if (user.handle === null) {
        pendingHandles.push(userId)
        return undefined
      }
      if (user.conflict !== undefined) {
        problem("matrixHandleRegistry", `user ${userId}`, user.conflict)
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
    },
    isActive: (userId: string): boolean => users.get(userId)?.statusId === 1,
    entitle: (member: DesiredMember) => members.set(member.userId, member),
    exclude: (matrixId: string, reason: string) => excluded.set(matrixId, reason),
    /** The outcome: failed when any problem was found, else the desired room. */
    finish: (settings: {
      readonly name: string
      readonly mayCreate: boolean
      readonly archived: boolean
      readonly policy: Policy
    }): RoomOutcome => {
      const key = roomKey(tenant.tenant, kind, entity.id)
      if (problems.length > 0 || alias === undefined) {
        return { outcome: { _tag: "Failed", key, alias, problems }, pendingHandles }
      }
      const joinRule: JoinRule = settings.policy.joinRule === "public" || visibility === "public" ? "public" : "invite"
      return {
        outcome: {
          _tag: "Desired",
          room: {
            key,
            alias,
            name: settings.name,
            joinRule,
            historyVisibility: "shared",
            guestAccess: "forbidden",
            mayCreate: settings.mayCreate,
            archived: settings.archived,
            roomIdHint: entity.matrixRoomId === null || entity.matrixRoomId === "" ? undefined : entity.matrixRoomId,
            members,
            excluded,
          },
        },
        pendingHandles,
      }
    },
  }
}
