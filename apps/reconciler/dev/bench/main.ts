/**
 * `pnpm bench [--quick] [scenario ...]` (scripts/bench.sh starts the services and runs this):
 * each scenario writes bench/results/<scenario>.json, then docs/benchmarks.md's tables are
 * regenerated from every result there. Scenarios: planner, economy, apply, convergence,
 * footprint (all by default), and footprint-10k when named (a daemon's footprint measured at
 * 10,000 rooms rather than extrapolated: about an hour and a half here, most of it Synapse
 * making the rooms). `--quick` runs sizes a reviewer can rerun in minutes.
 */

import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Store } from "@openmeet-reconciler/engine"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { applyScenario } from "./ApplyThroughput.ts"
import { convergenceScenario } from "./Convergence.ts"
import { economyScenario } from "./Economy.ts"
import { footprintScenario } from "./Footprint.ts"
import { benchSchema, databaseLayer, machine, requestCounter, say, services, writeResult } from "./Harness.ts"
import { plannerScenario } from "./Planner.ts"
import { renderBenchmarks } from "./Report.ts"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const defaults = ["planner", "economy", "apply", "convergence", "footprint"] as const
const all = [...defaults, "footprint-10k"] as const
const wanted = args.filter((a) => !a.startsWith("--"))
const unknown = wanted.filter((name) => !all.some((known) => known === name))
if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${all.join(", ")}`)
const chosen = wanted.length === 0 ? defaults : all.filter((name) => wanted.includes(name))

const s = services()
const counter = requestCounter()

const scenario = (name: (typeof all)[number]) => {
  switch (name) {
    case "planner":
      return plannerScenario(s, quick ? [1000, 5000] : [1000, 10000, 50000])
    case "economy":
      return economyScenario(s, counter, quick ? [200] : [200, 2000])
    case "apply":
      return applyScenario(s, counter, quick ? { rooms: 50, invites: 4 } : { rooms: 200, invites: 5 })
    case "convergence":
      return convergenceScenario(s, quick ? { rooms: 200, changes: 50 } : { rooms: 2000, changes: 200 })
    case "footprint":
      return footprintScenario(s, quick ? [200] : [200, 2000])
    case "footprint-10k":
      return footprintScenario(s, quick ? [2000] : [10_000])
  }
}

const program = Effect.gen(function* () {
  // The Synapse is fresh each run: the reconciler's records of an earlier one name rooms that are gone.
  yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS ${benchSchema} CASCADE`))
  yield* Effect.flatMap(Store, (store) => store.migrate)
  for (const name of chosen) {
    yield* say(`${name}: starting${quick ? " (quick)" : ""}`)
    const before = yield* machine(s)
    const data = yield* scenario(name)
    const after = yield* machine(s)
    writeResult({
      scenario: name,
      quick,
      date: new Date().toISOString(),
      // The load average before and after: the machine may be shared.
      // The commit checked out as it began: the code it measured.
      machine: { ...after, commit: before.commit, loadAverage: [...before.loadAverage, ...after.loadAverage] },
      data,
    })
  }
  renderBenchmarks()
  yield* say("docs/benchmarks.md regenerated from bench/results/")
})

program.pipe(
  Effect.provide(Layer.merge(databaseLayer(s), counter.layer)),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain,
)
