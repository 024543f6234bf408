import type { SqlClient } from "@effect/sql"
import { describeSqlError } from "@openmeet-reconciler/openmeet"
import { Effect } from "effect"
import { migrations } from "./StoreSchema.ts"

/** Creates or upgrades the reconciler's schema; idempotent, safe with several replicas starting at once. */
export const migrateSchema = (sql: SqlClient.SqlClient, schema: string) => {
  const s = `"${schema.replaceAll('"', '""')}"`
  const t = (name: string) => sql(`${schema}.${name}`)
  return Effect.gen(function* () {
    // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists:
    // a role given only its own schema (least privilege) must not be asked for it.
    const present = yield* sql<{ present: boolean }>`SELECT EXISTS (
        SELECT 1 FROM pg_namespace WHERE nspname = ${schema}) AS present`
    if (present[0]?.present !== true) {
      yield* sql
        .unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`)
        .pipe(
          Effect.mapError(
            (error) =>
              new Error(
                `schema ${schema} does not exist and this role may not create it (${describeSqlError(error)}); create it for the reconciler's role: CREATE SCHEMA ${s} AUTHORIZATION <role>`,
              ),
          ),
        )
    }
    yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer NOT NULL)`)
    yield* sql.withTransaction(
      Effect.gen(function* () {
        // One replica migrates at a time; the others wait, then find nothing to do.
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`openmeet-reconciler:${schema}`}))`
        const rows = yield* sql<{
          version: number
        }>`SELECT coalesce(max(version), 0) AS version FROM ${t("schema_version")}`
        const current = rows[0]?.version ?? 0
        for (const [index, migration] of migrations.entries()) {
          if (index + 1 <= current) continue
          for (const statement of migration(s)) yield* sql.unsafe(statement)
          yield* sql`INSERT INTO ${t("schema_version")} (version) VALUES (${index + 1})`
        }
      }),
    )
  })
}
