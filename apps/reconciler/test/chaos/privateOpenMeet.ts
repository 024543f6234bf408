/**
 * OpenMeet's database on a PostgreSQL cluster of the test's own, with the role a careful
 * deployment gives the reconciler: SELECT on OpenMeet's tables, its own schema, a
 * password (SCRAM), nothing else. The superuser (trust) seeds and changes OpenMeet's rows.
 */
import { SqlClient } from "@effect/sql"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import { fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import type { PrivatePostgres } from "@openmeet-reconciler/testing"
import { privatePostgres, sqlLayer, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"

export const readOnlyRole = "reconciler_ro"

export interface PrivateOpenMeet {
  readonly pg: PrivatePostgres
  readonly tenant: Tenant
  /** The reconciler's DATABASE_URL: the read-only role, with its password. */
  readonly url: string
  readonly password: string
  /** The reconciler's schema (owned by the role). */
  readonly schema: string
  /** Runs SQL as the superuser; `$s` stands for the tenant's schema. */
  readonly sql: (query: string) => Promise<ReadonlyArray<unknown>>
  readonly db: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown>
  readonly dispose: () => Promise<void>
}

/** Starts the cluster on `port`, seeds an empty tenant with `seed`, and makes the role. */
export const privateOpenMeet = async (
  name: string,
  port: number,
  serverName: string,
  seed: (tenant: Tenant) => Effect.Effect<void, unknown, SqlClient.SqlClient>,
): Promise<PrivateOpenMeet> => {
  const pg = await privatePostgres(name, port)
  const db = ManagedRuntime.make(sqlLayer(pg.databaseUrl))
  const tenant = fixtureTenant(uniqueTenantId(name.replace(/[^a-z]/g, "").slice(0, 3)), serverName)
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`
  const schema = "matrix_reconciler"
  const sql = (query: string) =>
    db.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(query.replaceAll("$s", `"${tenant.schema}"`))),
    )
  await db.runPromise(Effect.zipRight(resetTenant(tenant, 40), seed(tenant)))
  for (const statement of [
    `CREATE ROLE ${readOnlyRole} LOGIN PASSWORD '${password}'`,
    `GRANT USAGE ON SCHEMA $s TO ${readOnlyRole}`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA $s TO ${readOnlyRole}`,
    `GRANT SELECT ON public."matrixHandleRegistry" TO ${readOnlyRole}`,
    // Its own schema, nothing else: no CREATE on the database, no write on OpenMeet's tables.
    `CREATE SCHEMA ${schema} AUTHORIZATION ${readOnlyRole}`,
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
  ]) {
    await sql(statement)
  }
  await pg.requirePassword(readOnlyRole)
  return {
    pg,
    tenant,
    url: pg.url("openmeet", readOnlyRole, password),
    password,
    schema,
    sql,
    db,
    dispose: async () => {
      await db.dispose()
      await pg.dispose()
    },
  }
}
