/**
 * Benchmarks against the real services (infra/dev): how long the desired state, a plan
 * and an apply take for a seeded tenant, and how many requests a converged pass costs.
 * Usage (scripts/bench.sh sets the environment): node dev/bench.ts [events...]
 * Prints a Markdown table; docs/benchmarks.md records the numbers with the machine.
 */

import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { defaultPolicy, Telemetry } from "@openmeet-reconciler/core"
import { applyPlan, planPass, Store } from "@openmeet-reconciler/engine"
import { Homeservers, loadRegistration, makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { dropTenantDdl, fixtureTenant, registryDdl, seedTenant } from "@openmeet-reconciler/openmeet/testing"
import { Config, Effect, Layer, Logger, LogLevel } from "effect"

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)

const time = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - start }
  })

const program = Effect.scoped(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* Store
    yield* store.migrate
    const registration = yield* loadRegistration(yield* Config.string("APPSERVICE_REGISTRATION"))
    const serverName = yield* Config.string("MATRIX_SERVER_NAME")
    const rows: Array<string> = []
    for (const events of sizes.length > 0 ? sizes : [100, 400]) {
      const tenant = fixtureTenant(`bench${events}x${Date.now().toString(36)}`, serverName)
      for (const statement of [...registryDdl, ...dropTenantDdl(tenant.schema, tenant.id)]) yield* sql.unsafe(statement)
      const seeded = yield* seedTenant({ tenant, seed: 11, events })
      const runtime = { tenant, policy: defaultPolicy, botUserId: `@${registration.senderLocalpart}:${serverName}` }
      const scope = { tenants: [runtime], rooms: [] }
      const desired = yield* time((yield* DesiredState).forTenant(tenant, defaultPolicy))
      const first = yield* time(planPass(scope, { concurrency: 8 }))
      const applied = yield* time(applyPlan(first.value, { concurrency: 8 }))
      const actions = applied.value.actions.length
      const creates = applied.value.actions.filter((a) => a.action.type === "create_room").length
      const second = yield* time(planPass(scope, { concurrency: 8 }))
      const pending = second.value.plan.rooms.reduce((n, r) => n + r.actions.length, 0)
      // The daemon's full resync once converged: the same plan through the state cache.
      const cache = makeStateCache({ maxAge: "1 hour" })
      let requests = 0
      const cached = yield* Layer.build(
        Homeservers.layer(
          { homeserverUrl: yield* Config.string("MATRIX_HOMESERVER_URL"), asToken: registration.asToken },
          {},
          cache,
        ),
      )
      const telemetry = yield* Telemetry
      const counting = Effect.provideService(Telemetry, { ...telemetry, matrixRequest: () => void requests++ })
      yield* planPass(scope, { concurrency: 8 }).pipe(Effect.provide(cached), counting)
      cache.invalidateJoined()
      requests = 0
      const resync = yield* time(planPass(scope, { concurrency: 8 }).pipe(Effect.provide(cached), counting))
      rows.push(
        `| ${events} | ${seeded.attendees + seeded.groupMembers} | ${desired.value.rooms.length} | ${desired.ms.toFixed(0)} ms | ` +
          `${first.ms.toFixed(0)} ms | ${creates} rooms, ${actions} actions in ${(applied.ms / 1000).toFixed(1)} s ` +
          `(${((creates / applied.ms) * 1000).toFixed(1)} rooms/s) | ${second.ms.toFixed(0)} ms, ${pending} actions left | ` +
          `${resync.ms.toFixed(0)} ms, ${requests} Matrix request(s) |`,
      )
    }
    process.stdout.write(
      [
        "| events | member rows | rooms (desired) | desired state (5 queries) | first plan (all missing) | apply | converged plan | converged resync, state cache (daemon) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ...rows,
        "",
      ].join("\n"),
    )
  }),
)

const url = Config.redacted("DATABASE_URL")
const services = Layer.unwrapEffect(
  Effect.gen(function* () {
    const registration = yield* loadRegistration(yield* Config.string("APPSERVICE_REGISTRATION"))
    const homeserverUrl = yield* Config.string("MATRIX_HOMESERVER_URL")
    return Layer.mergeAll(
      Layer.provideMerge(
        Layer.merge(DesiredState.layer, Store.layer("bench_reconciler")),
        PgClient.layerConfig({ url }),
      ),
      Homeservers.layer({ homeserverUrl, asToken: registration.asToken }),
    )
  }),
)

Effect.runPromise(program.pipe(Effect.provide(services), Logger.withMinimumLogLevel(LogLevel.Warning))).catch(
  (error: unknown) => {
    process.stderr.write(`bench failed: ${String(error)}\n`)
    process.exitCode = 1
  },
)
