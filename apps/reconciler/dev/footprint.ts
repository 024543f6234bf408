/**
 * The daemon's memory and CPU footprint, for resource requests (docs/deploy.md "Sizing"):
 * seeds a tenant of N events, starts `reconciler run` as a process, and samples its
 * resident memory (/proc/PID/status) while it starts, creates every room (the first full
 * resync and its reconciles) and then idles, converged.
 * Usage (with the services' environment, like dev/bench.ts): node dev/footprint.ts [events]
 */

import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import {
  dropTenantDdl,
  fixtureTenant,
  registryDdl,
  seedTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { Config, Console, Effect } from "effect"

const events = Number(process.argv[2] ?? "100")
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(address !== null && typeof address === "object" ? address.port : 0))
    })
  })

/** VmRSS and VmHWM (peak) of a process, in MiB. */
const memory = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? "0")
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
}

const metric = async (port: number, name: string, labels = "") => {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  )
  return text
    .split("\n")
    .filter((line) => line.startsWith(name) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0)
}

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const serverName = yield* Config.string("MATRIX_SERVER_NAME")
  const tenant = fixtureTenant(`fp${events}x${Date.now().toString(36)}`, serverName)
  for (const statement of [...registryDdl, ...dropTenantDdl(tenant.schema, tenant.id)]) yield* sql.unsafe(statement)
  const seeded = yield* seedTenant({ tenant, seed: 11, events })
  const httpPort = yield* Effect.promise(freePort)
  const child = spawn(process.execPath, [main, "run"], {
    env: {
      ...process.env,
      TENANTS_B64: tenantsB64([tenant]),
      HTTP_PORT: String(httpPort),
      LISTEN_ADDRESS: "127.0.0.1",
      LOG_LEVEL: "warn",
      RESYNC_INTERVAL: "1h",
      POLL_INTERVAL: "1h",
    },
    stdio: ["ignore", "ignore", "inherit"],
  })
  const pid = child.pid ?? 0
  const started = Date.now()
  let ready = 0
  let converged = 0
  let peakDuringWork = 0
  // Converged: after the first resync, the queue empty and no action applied for 15 s (a batch of rooms reports its actions as it goes, but a slow one may pause).
  let lastApplied = -1
  let quietSince = 0
  while (Date.now() - started < 300_000) {
    yield* sleep(250)
    peakDuringWork = Math.max(peakDuringWork, memory(pid).rss)
    if (ready === 0) {
      const ok = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      )
      if (ok) ready = Date.now()
      continue
    }
    const depth = yield* Effect.promise(() => metric(httpPort, "reconciler_workqueue_depth"))
    const applied = yield* Effect.promise(() => metric(httpPort, "reconciler_actions_total{", 'result="applied"'))
    if (depth > 0 || applied !== lastApplied) {
      lastApplied = applied
      quietSince = Date.now()
    } else if (applied > 0 && Date.now() - quietSince > 15_000) {
      converged = quietSince
      break
    }
  }
  const afterWork = memory(pid)
  yield* sleep(30_000)
  const idle = memory(pid)
  const cpu = yield* Effect.promise(() => metric(httpPort, "process_cpu_seconds_total"))
  const applied = yield* Effect.promise(() => metric(httpPort, "reconciler_actions_total{", 'result="applied"'))
  child.kill("SIGTERM")
  yield* Console.log(
    [
      `events ${events}, ${seeded.attendees} attendees, ${seeded.groups} groups; ${applied} actions applied`,
      `ready after ${((ready - started) / 1000).toFixed(1)} s, converged after ${((converged - started) / 1000).toFixed(1)} s`,
      `RSS: ${peakDuringWork.toFixed(0)} MiB peak while creating rooms (VmHWM ${afterWork.peak.toFixed(0)} MiB), ${idle.rss.toFixed(0)} MiB idle 30 s after`,
      `CPU: ${cpu.toFixed(1)} s in total`,
    ].join("\n"),
  )
})

program.pipe(Effect.provide(PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })), NodeRuntime.runMain)
