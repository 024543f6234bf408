import { SqlClient } from "@effect/sql"
import type { DataProblem, DbQuery, DesiredOutcome, Policy, RoomOutcome, UserFacts } from "@openmeet-reconciler/core"
import { desiredEventRoom, desiredGroupRoom, timed } from "@openmeet-reconciler/core"
import { Context, Data, Effect, Layer, Schema } from "effect"
import {
  decodeMemberGroups,
  decodeRows,
  EventRow,
  GroupRow,
  isEventRow,
  isGroupRow,
  isUserRow,
  type MemberRow,
  packedRow,
  packedSeparator,
  UserRow,
} from "./DesiredRows.ts"
import { describeSqlError } from "./SqlErrors.ts"
import type { Tenant } from "./TenantConfig.ts"

/** The desired state of every managed room of one tenant (or of the rooms asked for). */
export interface TenantDesired {
  readonly tenant: Tenant
  readonly rooms: ReadonlyArray<DesiredOutcome>
  /** Distinct entitled users without a Matrix handle yet. */
  readonly pendingHandles: number
  /** Rows that could not be read at all (the rooms they belong to are skipped). */
  readonly problems: ReadonlyArray<DataProblem>
}

/**
 * A tenant's rows, read and checked, from which its rooms are built a slice at a time: a
 * pass over 10,000 rooms then holds the rooms of one batch, not of the whole tenant.
 */
export interface TenantRows {
  readonly tenant: Tenant
  /** How many rooms the rows make: its events', then its groups'. */
  readonly size: number
  /** The rooms from `from` to `to` in that order, each with the users it waits on for a handle. */
  readonly build: (from: number, to: number) => ReadonlyArray<RoomOutcome>
  /** Rows that could not be read at all (the rooms they belong to are not acted on). */
  readonly problems: ReadonlyArray<DataProblem>
}

/** Which rooms to compute; all of the tenant's when absent. */
export interface DesiredFilter {
  readonly eventIds: ReadonlyArray<string>
  readonly groupIds: ReadonlyArray<string>
}

/** A query that failed: the tenant's desired state is unknown, so nothing of it may be acted on. */
export class DesiredStateError extends Data.TaggedError("DesiredStateError")<{
  readonly tenant: string
  readonly query: string
  readonly message: string
}> {}

/** Values that more than one row has, with the ids of those rows. */
const duplicates = (pairs: ReadonlyArray<readonly [string | null, string]>): ReadonlyArray<[string, Array<string>]> => {
  const byValue = new Map<string, Array<string>>()
  for (const [value, id] of pairs) {
    if (value === null || value === "") continue
    const ids = byValue.get(value)
    if (ids === undefined) byValue.set(value, [id])
    else ids.push(id)
  }
  return [...byValue].filter(([, ids]) => ids.length > 1)
}

/** Users by id; two users whose handles name one Matrix account both get a conflict. */
const withHandleConflicts = (rows: ReadonlyArray<UserFacts>): ReadonlyMap<string, UserFacts> => {
  const clashes = new Map(
    duplicates(rows.map((u) => [u.handle === null ? null : u.handle.toLowerCase(), u.id] as const)).flatMap(
      ([handle, ids]) =>
        ids.map(
          (id) =>
            [
              id,
              `handle ${JSON.stringify(handle)} is shared with user ${ids.filter((o) => o !== id).join(", ")}`,
            ] as const,
        ),
    ),
  )
  return new Map(
    rows.map((u) => {
      const conflict = clashes.get(u.id)
      return [u.id, conflict === undefined ? u : { ...u, conflict }]
    }),
  )
}

/** Adds problems to an outcome: a room with any problem is never acted on. */
const withProblems = (outcome: DesiredOutcome, problems: ReadonlyArray<DataProblem>): DesiredOutcome => {
  if (problems.length === 0) return outcome
  return outcome._tag === "Failed"
    ? { ...outcome, problems: [...outcome.problems, ...problems] }
    : { _tag: "Failed", key: outcome.room.key, alias: outcome.room.alias, problems }
}

/** Events and groups to look for, by id and by slug. */
export interface EntityLookup {
  readonly ids: ReadonlyArray<{ readonly kind: "event" | "group"; readonly id: string }>
  readonly slugs: ReadonlyArray<{ readonly kind: "event" | "group"; readonly slug: string }>
}

export interface ExistingEntities {
  /** `event:<id>` / `group:<id>` of those found by id. */
  readonly ids: ReadonlySet<string>
  /** `event:<slug>` / `group:<slug>` → the id of the entity that has the slug now. */
  readonly slugs: ReadonlyMap<string, string>
}

const EntityRow = Schema.Struct({ kind: Schema.String, id: Schema.String, slug: Schema.NullOr(Schema.String) })
const EntitledRow = Schema.Struct({ entitled: Schema.Boolean })

/** Reads OpenMeet's database and computes desired rooms (policy.md), a fixed number of queries per tenant. */
export class DesiredState extends Context.Tag("@openmeet-reconciler/openmeet/DesiredState")<
  DesiredState,
  {
    readonly forTenant: (
      tenant: Tenant,
      policy: Policy,
      filter?: DesiredFilter,
    ) => Effect.Effect<TenantDesired, DesiredStateError>
    /** The tenant's rows, for its rooms to be built a slice at a time (what `forTenant` builds at once). */
    readonly readTenant: (
      tenant: Tenant,
      policy: Policy,
      filter?: DesiredFilter,
    ) => Effect.Effect<TenantRows, DesiredStateError>
    /** The id of the event or group with this slug (an alias query names a room by slug). */
    readonly entityIdBySlug: (
      tenant: Tenant,
      kind: "event" | "group",
      slug: string,
    ) => Effect.Effect<string | undefined, DesiredStateError>
    /**
     * Which of these events and groups exist now, by id (`event:42`) and by slug
     * (`event:<slug>` → id), whatever their status: an orphan's entity must really be gone.
     */
    readonly entitiesExist: (tenant: Tenant, lookup: EntityLookup) => Effect.Effect<ExistingEntities, DesiredStateError>
    /**
     * Whether anyone at all is entitled to a room of the tenant (policy.md §5): the whole
     * tenant's verdict, in one query, for a pass that looks at some rooms only.
     */
    readonly hasEntitledUsers: (tenant: Tenant, policy: Policy) => Effect.Effect<boolean, DesiredStateError>
  }
>() {
  /** Over the SqlClient in context (OpenMeet's database; SELECT suffices); query timings go to Telemetry. */
  static readonly layer = Layer.effect(
    DesiredState,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const readTenant = Effect.fn("DesiredState.readTenant")(function* (
        tenant: Tenant,
        policy: Policy,
        filter?: DesiredFilter,
      ) {
        yield* Effect.annotateCurrentSpan({ tenant: tenant.id })
        const t = (name: string) => sql(`${tenant.schema}.${name}`)
        /** The filter as SQL: every row without one, none for an empty list. */
        const only = (column: string, ids: ReadonlyArray<string> | undefined) =>
          ids === undefined ? sql`true` : ids.length === 0 ? sql`false` : sql.in(column, ids.map(Number))
        const events = (column: string) => only(column, filter?.eventIds)
        const groups = (column: string) => only(column, filter?.groupIds)
        const separator = sql.literal(packedSeparator)
        const attendeeFields = sql.literal(
          packedRow(["a.id", 'a."userId"', "a.status", "r.name", 'CASE WHEN r.name IS NULL THEN a."roleId" END']),
        )
        const memberFields = sql.literal(
          packedRow(["m.id", 'm."userId"', "NULL", "r.name", 'CASE WHEN r.name IS NULL THEN m."groupRoleId" END']),
        )
        const run = <A>(query: DbQuery, effect: Effect.Effect<A, unknown>) =>
          effect.pipe(
            timed(query),
            Effect.mapError(
              (error) => new DesiredStateError({ tenant: tenant.id, query, message: describeSqlError(error) }),
            ),
            Effect.withSpan(`DesiredState.query ${query}`, { attributes: { tenant: tenant.id, query } }),
          )

        // Five set-based queries per tenant, however many events and groups it has.
        const [eventRows, attendeeRows, groupRows, memberRows, userRows] = yield* Effect.all(
          [
            run(
              "events",
              sql`SELECT e.id::text AS id, e.slug, e.name, e.status::text AS status, e.visibility::text AS visibility,
                         e."userId"::text AS "ownerId", e."matrixRoomId" AS "matrixRoomId"
                  FROM ${t("events")} e WHERE ${events("e.id")} ORDER BY e.id`,
            ),
            // Member rows come packed, one text per event or group (DesiredRows.ts).
            run(
              "eventAttendees",
              sql`SELECT a."eventId"::text AS "parentId", string_agg(${attendeeFields}, ${separator} ORDER BY a.id) AS rows
                  FROM ${t("eventAttendees")} a LEFT JOIN ${t("eventRoles")} r ON r.id = a."roleId"
                  WHERE ${events("a.eventId")} GROUP BY a."eventId"`,
            ),
            run(
              "groups",
              sql`SELECT g.id::text AS id, g.slug, g.name, g.status::text AS status, g.visibility::text AS visibility,
                         g."matrixRoomId" AS "matrixRoomId"
                  FROM ${t("groups")} g WHERE ${groups("g.id")} ORDER BY g.id`,
            ),
            run(
              "groupMembers",
              sql`SELECT m."groupId"::text AS "parentId", string_agg(${memberFields}, ${separator} ORDER BY m.id) AS rows
                  FROM ${t("groupMembers")} m LEFT JOIN ${t("groupRoles")} r ON r.id = m."groupRoleId"
                  WHERE ${groups("m.groupId")} GROUP BY m."groupId"`,
            ),
            // Every user id a selected row points at, with its handle for this tenant: from
            // the registry even when `users` has no such row, since the handle is the identity.
            run(
              "users",
              sql`SELECT ids.id::text AS id,
                         CASE WHEN u."deletedAt" IS NULL THEN u."statusId" END AS "statusId",
                         h.handle, u.id IS NULL AS missing
                  FROM (SELECT a."userId" AS id FROM ${t("eventAttendees")} a WHERE ${events("a.eventId")}
                        UNION SELECT e."userId" FROM ${t("events")} e WHERE ${events("e.id")}
                        UNION SELECT m."userId" FROM ${t("groupMembers")} m WHERE ${groups("m.groupId")}) ids
                  LEFT JOIN ${t("users")} u ON u.id = ids.id
                  LEFT JOIN public."matrixHandleRegistry" h ON h."tenantId" = ${tenant.id} AND h."userId" = ids.id
                  WHERE ids.id IS NOT NULL`,
            ),
          ],
          { concurrency: "unbounded" },
        )

        const eventsRead = decodeRows(EventRow, isEventRow, eventRows, tenant.id, "events")
        const attendees = decodeMemberGroups(attendeeRows, tenant.id, "eventAttendees")
        const groupsRead = decodeRows(GroupRow, isGroupRow, groupRows, tenant.id, "groups")
        const members = decodeMemberGroups(memberRows, tenant.id, "groupMembers")
        const users = decodeRows(UserRow, isUserRow, userRows, tenant.id, "users")
        const userFacts = withHandleConflicts(users.rows)
        const facts = { tenant: tenant.id, serverName: tenant.serverName }

        // Two events (or groups) with one slug would claim one alias: neither is acted on.
        const slugProblems = new Map<string, Array<DataProblem>>()
        for (const [table, rows] of [
          ["events", eventsRead.rows],
          ["groups", groupsRead.rows],
        ] as const) {
          for (const [slug, ids] of duplicates(rows.map((r) => [r.slug, r.id] as const))) {
            const kind = table === "events" ? "event" : "group"
            for (const id of ids) {
              const problem = {
                tenant: tenant.id,
                table,
                id,
                message: `slug ${JSON.stringify(slug)} is also used by ${table} id ${ids.filter((other) => other !== id).join(", ")}`,
              }
              slugProblems.set(`${kind}:${id}`, [...(slugProblems.get(`${kind}:${id}`) ?? []), problem])
            }
          }
        }
        // An unreadable member or user row could belong to any room: no room of the
        // tenant may then be planned as if the row did not exist.
        const unreadable = [...attendees.problems, ...members.problems, ...users.problems]

        const eventList = eventsRead.rows
        const groupList = groupsRead.rows
        const built = (index: number): RoomOutcome => {
          const event = eventList[index]
          if (event !== undefined) {
            // "eventAttendees"."userId" is NOT NULL in OpenMeet; a NULL could name no one anyway.
            const rows = attendees
              .rowsOf(event.id)
              .filter((row): row is MemberRow & { readonly userId: string } => row.userId !== null)
            return desiredEventRoom(facts, event, rows, userFacts, policy)
          }
          const group = groupList[index - eventList.length] as GroupRow
          return desiredGroupRoom(facts, group, members.rowsOf(group.id), userFacts, policy)
        }
        const roomAt = (index: number): RoomOutcome => {
          const result = built(index)
          const key = result.outcome._tag === "Desired" ? result.outcome.room.key : result.outcome.key
          const problems = [...(slugProblems.get(`${key.kind}:${key.entityId}`) ?? []), ...unreadable]
          return problems.length === 0 ? result : { ...result, outcome: withProblems(result.outcome, problems) }
        }
        const size = eventList.length + groupList.length
        return {
          tenant,
          size,
          build: (from: number, to: number) => {
            const rooms: Array<RoomOutcome> = []
            for (let index = Math.max(0, from); index < Math.min(size, to); index++) rooms.push(roomAt(index))
            return rooms
          },
          problems: [...eventsRead.problems, ...groupsRead.problems, ...unreadable],
        } satisfies TenantRows
      })
      const forTenant = (tenant: Tenant, policy: Policy, filter?: DesiredFilter) =>
        readTenant(tenant, policy, filter).pipe(
          Effect.map((rows) => {
            const pending = new Set<string>()
            const rooms: Array<DesiredOutcome> = []
            for (const result of rows.build(0, rows.size)) {
              for (const userId of result.pendingHandles) pending.add(userId)
              rooms.push(result.outcome)
            }
            return { tenant, rooms, pendingHandles: pending.size, problems: rows.problems } satisfies TenantDesired
          }),
        )
      const entityIdBySlug = (tenant: Tenant, kind: "event" | "group", slug: string) =>
        sql<{
          id: string
        }>`SELECT id::text AS id FROM ${sql(`${tenant.schema}.${kind === "event" ? "events" : "groups"}`)}
            WHERE slug = ${slug} LIMIT 1`.pipe(
          Effect.map((rows) => rows[0]?.id),
          Effect.mapError(
            (error) =>
              new DesiredStateError({
                tenant: tenant.id,
                query: `${kind} by slug`,
                message: describeSqlError(error),
              }),
          ),
          Effect.withSpan("DesiredState.query slug", { attributes: { tenant: tenant.id } }),
        )
      const failed = (tenant: Tenant, query: string) => (error: unknown) =>
        new DesiredStateError({ tenant: tenant.id, query, message: describeSqlError(error) })
      const entitiesExist = (tenant: Tenant, lookup: EntityLookup) =>
        Effect.gen(function* () {
          const t = (name: string) => sql(`${tenant.schema}.${name}`)
          const of = (kind: "event" | "group") => ({
            ids: lookup.ids.filter((e) => e.kind === kind && /^[0-9]{1,9}$/.test(e.id)).map((e) => Number(e.id)),
            slugs: lookup.slugs.filter((e) => e.kind === kind).map((e) => e.slug),
          })
          const events = of("event")
          const groups = of("group")
          // Array parameters: however many rooms are looked up, the statement has four.
          const rows = yield* sql`
              SELECT 'event' AS kind, e.id::text AS id, e.slug FROM ${t("events")} e
                WHERE e.id = ANY(${sql`${events.ids}::int[]`}) OR e.slug = ANY(${sql`${events.slugs}::text[]`})
              UNION ALL
              SELECT 'group', g.id::text, g.slug FROM ${t("groups")} g
                WHERE g.id = ANY(${sql`${groups.ids}::int[]`}) OR g.slug = ANY(${sql`${groups.slugs}::text[]`})`
          const found = yield* Schema.decodeUnknown(Schema.Array(EntityRow))(rows)
          const ids = new Set<string>()
          const slugs = new Map<string, string>()
          for (const row of found) {
            ids.add(`${row.kind}:${row.id}`)
            if (row.slug !== null) slugs.set(`${row.kind}:${row.slug}`, row.id)
          }
          return { ids, slugs } satisfies ExistingEntities
        }).pipe(
          timed("entities"),
          Effect.mapError(failed(tenant, "entities")),
          Effect.withSpan("DesiredState.query entities", { attributes: { tenant: tenant.id, query: "entities" } }),
        )
      const hasEntitledUsers = (tenant: Tenant, policy: Policy) =>
        Effect.gen(function* () {
          const t = (name: string) => sql(`${tenant.schema}.${name}`)
          // policy.md §3 as SQL, for an answer about the whole tenant in one round trip.
          const person = (column: string) => sql`JOIN ${t("users")} u ON u.id = ${sql(column)}
                AND u."statusId" = 1 AND u."deletedAt" IS NULL
              JOIN public."matrixHandleRegistry" h ON h."tenantId" = ${tenant.id} AND h."userId" = u.id`
          const rows = yield* sql`SELECT EXISTS (
                SELECT 1 FROM ${t("eventAttendees")} a ${person("a.userId")}
                  LEFT JOIN ${t("eventRoles")} r ON r.id = a."roleId"
                  WHERE a.status::text = ANY(${sql`${[...policy.eventEntitledStatuses]}::text[]`})
                     OR (r.name IN ('host', 'moderator') AND a.status::text IS DISTINCT FROM 'rejected')
                UNION ALL
                SELECT 1 FROM ${t("events")} e ${person("e.userId")}
                UNION ALL
                SELECT 1 FROM ${t("groupMembers")} m ${person("m.userId")}
                  JOIN ${t("groupRoles")} r ON r.id = m."groupRoleId"
                  WHERE r.name::text IN ('owner', 'admin', 'moderator', 'member')
              ) AS entitled`
          const [row] = yield* Schema.decodeUnknown(Schema.Array(EntitledRow))(rows)
          return row?.entitled === true
        }).pipe(
          timed("entitled"),
          Effect.mapError(failed(tenant, "entitled")),
          Effect.withSpan("DesiredState.query entitled", { attributes: { tenant: tenant.id, query: "entitled" } }),
        )
      return { forTenant, readTenant, entityIdBySlug, entitiesExist, hasEntitledUsers }
    }),
  )
}
