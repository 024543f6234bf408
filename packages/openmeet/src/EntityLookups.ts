import type { SqlClient } from "@effect/sql"
import type { Policy } from "@openmeet-reconciler/core"
import { timed } from "@openmeet-reconciler/core"
import { Data, Effect, Schema } from "effect"
import { describeSqlError } from "./SqlErrors.ts"
import type { Tenant } from "./TenantConfig.ts"

/** A query that failed: the tenant's desired state is unknown, so nothing of it may be acted on. */
export class DesiredStateError extends Data.TaggedError("DesiredStateError")<{
  readonly tenant: string
  readonly query: string
  readonly message: string
}> {}

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

/**
 * The lookups beside the desired state (one query each, whatever their size): an entity by
 * slug for an alias query, which entities exist for the orphan search, and whether anyone
 * at all is entitled for a pass over some rooms only.
 */
export const entityLookups = (sql: SqlClient.SqlClient) => {
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
  return { entityIdBySlug, entitiesExist, hasEntitledUsers }
}
