import type { DataProblem, DesiredMember, DesiredOutcome, JoinRule } from "./Desired.ts"
import { formatDataProblem } from "./Desired.ts"
import type { Identity } from "./Identities.ts"
import { identitiesOf, pending } from "./Identities.ts"
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
  /** Rows point at this id, but `users` has no such row (the handle comes from the registry alone). */
  readonly missing?: boolean
}

export interface TenantFacts {
  readonly tenant: string
  readonly serverName: string
}

export type { Identity } from "./Identities.ts"

export interface RoomOutcome {
  readonly outcome: DesiredOutcome
  /** Entitled users who have no Matrix handle yet (counted, never guessed). */
  readonly pendingHandles: ReadonlyArray<string>
}

export const oneOf = <T extends string>(values: ReadonlyArray<T>, value: string): value is T =>
  values.some((candidate) => candidate === value)

/**
 * Collects what one entity's rows say about its room: the alias and settings from the
 * entity row, entitled, excluded and undecided users from its member rows. A problem
 * with the entity row fails the room; a member row that cannot be decided costs only
 * its user, who is left as found (policy.md §5).
 */
export const roomBuilder = <S extends string>(
  tenant: TenantFacts,
  kind: EntityKind,
  entity: EntityFacts,
  statuses: ReadonlyArray<S>,
  users: ReadonlyMap<string, UserFacts>,
) => {
  const table = kind === "event" ? "events" : "groups"
  const known = identitiesOf(users, tenant.serverName)
  const problems: Array<DataProblem> = []
  const problem = (rowTable: string, id: string, message: string) =>
    problems.push({ tenant: tenant.tenant, table: rowTable, id, message })

  // OpenMeet's legacy label for unlisted; NULL is read as the most restrictive.
  const visibilityText = entity.visibility === "authenticated" ? "unlisted" : (entity.visibility ?? "private")
  // Stryker disable next-line StringLiteral: equivalent, an unknown visibility fails the room, so this fallback is never read
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
  const undecided = new Map<string, string>()
  const undecidedRows: Array<DataProblem> = []
  const pendingHandles: Array<string> = []

  /**
   * A row that cannot be decided. Tied to a Matrix id, that user is left as found (whatever
   * other rows say). Tied to none, it entitles no one; and since identity comes only from
   * the registry, no one in Matrix can be its user: nobody else is spared or removed for it.
   */
  const undecide = (rowTable: string, rowId: string, message: string, matrixId: string | undefined): void => {
    const problem: DataProblem = {
      tenant: tenant.tenant,
      table: rowTable,
      id: rowId,
      message: `${message}; ${matrixId === undefined ? "it names no Matrix user and entitles no one" : `${matrixId} is left as is`}`,
    }
    undecidedRows.push(problem)
    if (matrixId === undefined) return
    if (!undecided.has(matrixId)) undecided.set(matrixId, formatDataProblem(problem))
    members.delete(matrixId)
    excluded.delete(matrixId)
  }

  /** A user not resolved cleanly before: resolves (and remembers) or records why it cannot. */
  const resolve = (
    rowTable: string,
    rowId: string,
    userId: string,
    seen: Identity | undefined,
  ): Identity | undefined => {
    const user = users.get(userId)
    const missing = () => `points at user ${userId}, which does not exist`
    if (user === undefined || (user.missing === true && user.handle === null)) {
      undecide(rowTable, rowId, missing(), undefined)
      return undefined
    }
    const handle = user.handle
    if (handle === null) {
      // Only a user who exists can be waiting for a handle: a missing one is undecided above.
      // Stryker disable next-line CallExpression: equivalent, a pending user not remembered is resolved again to pending
      known.set(userId, pending)
      pendingHandles.push(userId)
      return undefined
    }
    // The user the row is about is whoever holds the handle's Matrix id, if anyone does.
    let identity = seen
    // Stryker disable next-line ConditionalExpression: 'true' is equivalent, the identity is worked out again the same; 'false', disabled with it, was killed
    if (identity === undefined) {
      const valid = isValidLocalpart(handle)
      identity = {
        id: userIdOf(handle, tenant.serverName),
        valid,
        // Stryker disable next-line ConditionalExpression: 'false' is equivalent, a user not marked clean passes the same checks below; each part's 'true', disabled with it, was killed
        clean: valid && user.missing !== true && user.conflict === undefined,
        active: user.statusId === 1,
      }
      // Stryker disable next-line CallExpression: equivalent, an identity not remembered is worked out again the same
      known.set(userId, identity)
      // Stryker disable next-line ConditionalExpression: 'false' is equivalent, a clean identity passes the checks below; 'true', disabled with it, was killed
      if (identity.clean) return identity
    }
    const named = identity.id
    if (user.missing === true) {
      undecide(rowTable, rowId, `${missing()} (the registry gives it handle ${JSON.stringify(user.handle)})`, named)
      return undefined
    }
    if (user.conflict !== undefined) {
      undecide("matrixHandleRegistry", `user ${userId}`, user.conflict, named)
      return undefined
    }
    // Stryker disable next-line ConditionalExpression: 'true' is equivalent, only an invalid handle gets here (a valid one is clean or stopped above); 'false', disabled with it, was killed
    if (!identity.valid) {
      undecide(
        "matrixHandleRegistry",
        `user ${userId}`,
        `handle ${JSON.stringify(handle)} is not a valid Matrix localpart`,
        named,
      )
      return undefined
    }
    return identity
  }

  return {
    status,
    problem,
    undecide,
    /**
     * Resolves a user to a Matrix id (and whether they are active); when it cannot, records
     * why (pending, or an undecided row).
     */
    identityOf: (rowTable: string, rowId: string, userId: string): Identity | undefined => {
      const seen = known.get(userId)
      // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent, a pending user resolved again is pending again and counted once; 'true', disabled with it, was killed
      if (seen === pending) {
        pendingHandles.push(userId)
        return undefined
      }
      // Stryker disable next-line ConditionalExpression,BooleanLiteral: equivalent, resolving a clean identity again gives it back; 'true', disabled with it, was killed
      return seen?.clean === true ? seen : resolve(rowTable, rowId, userId, seen)
    },
    /** Entitles a user; of two entitling rows, the higher level wins. An undecided user stays undecided. */
    entitle: (member: DesiredMember) => {
      if (undecided.has(member.userId) || (members.get(member.userId)?.level ?? -1) >= member.level) return
      members.set(member.userId, member)
      excluded.delete(member.userId)
    },
    /** Excludes a user no other row entitles or leaves undecided; the first rule found is kept. */
    exclude: (matrixId: string, reason: string) => {
      if (members.has(matrixId) || undecided.has(matrixId) || excluded.has(matrixId)) return
      excluded.set(matrixId, reason)
    },
    /** The outcome: failed when any problem was found, else the desired room. */
    finish: (settings: {
      readonly name: string
      readonly mayCreate: boolean
      readonly archived: boolean
      readonly policy: Policy
    }): RoomOutcome => {
      const key = roomKey(tenant.tenant, kind, entity.id)
      if (
        problems.length > 0 ||
        // Stryker disable next-line ConditionalExpression: equivalent, an entity without an alias always has a problem recorded
        alias === undefined
      ) {
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
            undecided,
            undecidedRows,
          },
        },
        pendingHandles,
      }
    },
  }
}
