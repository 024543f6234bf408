/**
 * Development seeding: builds OpenMeet-shaped tenants in DATABASE_URL for the demo
 * and benchmarks. Usage: node dev/seed.ts <events> [seed]   (tenants from TENANTS_B64)
 * It drops and re-creates each configured tenant's tables: never point it at a real OpenMeet.
 */

import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { parseTenantsB64 } from "@openmeet-reconciler/openmeet"
import { dropTenantDdl, registryDdl, seedTenant } from "@openmeet-reconciler/openmeet/testing"
import { Config, Console, Effect, Either } from "effect"

const events = Number(process.argv[2] ?? "40")
const seed = Number(process.argv[3] ?? "1")

const program = Effect.gen(function* () {
  const b64 = yield* Config.string("TENANTS_B64")
  const tenants = parseTenantsB64(b64)
  if (Either.isLeft(tenants)) return yield* Effect.fail(tenants.left)
  const sql = yield* SqlClient.SqlClient
  for (const statement of registryDdl) yield* sql.unsafe(statement)
  for (const tenant of tenants.right) {
    for (const statement of dropTenantDdl(tenant.schema, tenant.id)) yield* sql.unsafe(statement)
    const summary = yield* seedTenant({ tenant, seed, events })
    yield* Console.log(
      `seeded tenant ${JSON.stringify(tenant.id)} (${tenant.schema}): ${summary.users} users (${summary.handles.length} with handles), ` +
        `${summary.events} events, ${summary.attendees} attendees, ${summary.groups} groups, ${summary.groupMembers} group members`,
    )
  }
})

program.pipe(Effect.provide(PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })), NodeRuntime.runMain)
