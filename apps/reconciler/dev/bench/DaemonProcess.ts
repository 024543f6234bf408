/**
 * `reconciler run` as its own process, as production runs it, for the scenarios that
 * measure the daemon from outside: its metrics, its resident memory, its event loop.
 */

import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import type { TenantRuntime } from "@openmeet-reconciler/engine"
import { tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { Effect } from "effect"
import type { Services } from "./Harness.ts"
import { benchSchema, sleep } from "./Harness.ts"

const main = fileURLToPath(new URL("../../src/main.ts", import.meta.url))

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(address !== null && typeof address === "object" ? address.port : 0))
    })
  })

/** VmRSS and VmHWM (peak) of a process, in MiB. */
export const memoryOf = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? "0")
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
}

/** Starts a daemon for these tenants; stops it when the scope closes. */
export const startDaemon = (s: Services, tenants: ReadonlyArray<TenantRuntime>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const httpPort = yield* Effect.promise(freePort)
      const child = spawn(process.execPath, [main, "run"], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: s.databaseUrl,
          MATRIX_HOMESERVER_URL: s.homeserverUrl,
          APPSERVICE_REGISTRATION: s.registrationPath,
          APPSERVICE_PORT: new URL(s.appserviceUrl).port,
          RECONCILER_SCHEMA: benchSchema,
          TENANTS_B64: tenantsB64(tenants.map((t) => t.tenant)),
          HTTP_PORT: String(httpPort),
          LISTEN_ADDRESS: "127.0.0.1",
          LOG_LEVEL: "warn",
          ...env,
        },
        stdio: ["ignore", "ignore", "inherit"],
      })
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
      /**
       * One scrape of /metrics, read as: the sum of a metric's samples whose labels contain
       * `labels`. (Each scrape resets prom-client's event-loop histogram: read it from one.)
       */
      const scrape = Effect.promise(async () => {
        const text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then(
          (r) => r.text(),
          () => "",
        )
        return (name: string, labels = "") =>
          text
            .split("\n")
            .filter((line) => (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) && line.includes(labels))
            .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0)
      })
      const metric = (name: string, labels = "") => Effect.map(scrape, (read) => read(name, labels))
      const leading = Effect.promise(() =>
        fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
          async (r) => r.ok && (await r.text()).includes('"role":"leader"'),
          () => false,
        ),
      )
      /** Ready as the leader, its queue empty and no action applied for `quietMs`. */
      const converged = (quietMs: number, timeoutMs: number) =>
        Effect.gen(function* () {
          const started = Date.now()
          while (!(yield* leading)) {
            if (Date.now() - started > timeoutMs) return yield* Effect.die(new Error("the daemon never led"))
            yield* sleep(250)
          }
          let last = -1
          let quietSince = Date.now()
          while (Date.now() - started < timeoutMs) {
            const depth = yield* metric("reconciler_workqueue_depth")
            const applied = yield* metric("reconciler_actions_total", 'result="applied"')
            if (depth > 0 || applied !== last) {
              last = applied
              quietSince = Date.now()
            } else if (Date.now() - quietSince >= quietMs) return Date.now() - started
            yield* sleep(250)
          }
          return yield* Effect.die(new Error("the daemon did not converge in time"))
        })
      return { child, pid: child.pid ?? 0, httpPort, metric, scrape, converged, exited }
    }),
    (daemon) =>
      Effect.promise(async () => {
        daemon.child.kill("SIGTERM")
        await daemon.exited
      }),
  )
