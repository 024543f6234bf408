/**
 * Development seeding: builds OpenMeet-shaped tenants in DATABASE_URL for the demo
 * and benchmarks. Usage: node dev/seed.ts <events> [seed] [--if-empty]   (tenants from
 * TENANTS_B64 or TENANTS_FILE)
 * It drops and re-creates each configured tenant's tables: never point it at a real OpenMeet.
 * `--if-empty` leaves a tenant whose tables exist alone (the compose stack seeds once).
 */

import { readFileSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { parseTenants, parseTenantsB64 } from "@openmeet-reconciler/openmeet"
import { dropTenantDdl, registryDdl, seedTenant } from "@openmeet-reconciler/openmeet/testing"
import { Config, Console, Effect, Either, Option } from "effect"

const args = process.argv.slice(2).filter((arg) => arg !== "--if-empty")
const ifEmpty = process.argv.includes("--if-empty")
const events = Number(args[0] ?? "40")
const seed = Number(args[1] ?? "1")

const tenantList = Effect.gen(function* () {
  const b64 = yield* Config.option(Config.string("TENANTS_B64"))
  if (Option.isSome(b64)) return parseTenantsB64(b64.value)
  const file = yield* Config.string("TENANTS_FILE")
  return parseTenants(readFileSync(file, "utf8"), `TENANTS_FILE ${file}`)
})

const program = Effect.gen(function* () {
  const tenants = yield* tenantList
  if (Either.isLeft(tenants)) return yield* Effect.fail(tenants.left)
  const sql = yield* SqlClient.SqlClient
  for (const statement of registryDdl) yield* sql.unsafe(statement)
  for (const tenant of tenants.right) {
    if (ifEmpty) {
      const [found] = yield* sql<{
        readonly events: string | null
      }>`SELECT to_regclass(${`${tenant.schema}.events`})::text AS events`
      if (found?.events !== null && found?.events !== undefined) {
        yield* Console.log(`tenant ${JSON.stringify(tenant.id)} (${tenant.schema}) has tables already: left as it is`)
        continue
      }
    }
    for (const statement of dropTenantDdl(tenant.schema, tenant.id)) yield* sql.unsafe(statement)
    const summary = yield* seedTenant({ tenant, seed, events })
    yield* Console.log(
      `seeded tenant ${JSON.stringify(tenant.id)} (${tenant.schema}): ${summary.users} users (${summary.handles.length} with handles), ` +
        `${summary.events} events, ${summary.attendees} attendees, ${summary.groups} groups, ${summary.groupMembers} group members`,
    )
  }
})

program.pipe(Effect.provide(PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })), NodeRuntime.runMain)
