import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { SqlClient } from "@effect/sql"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import { addEvent, addUser, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import type { TestServices } from "@openmeet-reconciler/testing"
import { sqlLayer, synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, afterEach } from "vitest"
import { cliEnv } from "./cli.ts"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

let nextPort = 18100 + Math.floor(Math.random() * 400)

/** A running `reconciler run`, as a separate process, with its HTTP endpoints. */
export interface Daemon {
  readonly process: ChildProcess
  readonly httpPort: number
  /** Everything it logged so far (JSON lines). */
  readonly log: () => string
  readonly get: (path: string) => Promise<{ readonly status: number; readonly body: string }>
  /** A metric's value from /metrics (the sum over the label sets that contain `labels`). */
  readonly metric: (name: string, labels?: Record<string, string>) => Promise<number>
  /** Sends a signal and waits for the exit: its code and how long it took. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<{ readonly code: number | null; readonly ms: number }>
}

/** The environment for a daemon of these tenants; it listens for transactions where Synapse sends them. */
export const daemonEnv = (services: TestServices, extra: Record<string, string>): NodeJS.ProcessEnv =>
  cliEnv(services, {
    LISTEN_ADDRESS: "127.0.0.1",
    APPSERVICE_PORT: new URL(services.appserviceUrl).port,
    RESYNC_INTERVAL: "1h",
    POLL_INTERVAL: "1h",
    SHUTDOWN_GRACE: "5s",
    LOG_LEVEL: "info",
    ...extra,
  })

export const startDaemon = (env: NodeJS.ProcessEnv): Daemon => {
  const httpPort = nextPort++
  const child = spawn(process.execPath, [main, "run"], {
    env: { ...env, HTTP_PORT: String(httpPort) },
    stdio: ["ignore", "ignore", "pipe"],
  })
  let output = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const get = async (path: string) => {
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, { signal: AbortSignal.timeout(10_000) })
      return { status: response.status, body: await response.text() }
    } catch {
      return { status: 0, body: "" }
    }
  }
  return {
    process: child,
    httpPort,
    log: () => output,
    get,
    metric: async (name, labels = {}) => {
      const { body } = await get("/metrics")
      let sum = 0
      for (const line of body.split("\n")) {
        const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
        if (match === null || match[1] !== name) continue
        const set = match[2] ?? ""
        if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(match[3])
      }
      return sum
    },
    stop: async (signal = "SIGTERM") => {
      const started = Date.now()
      child.kill(signal)
      const code = await exited
      return { code, ms: Date.now() - started }
    },
  }
}

/** Polls `check` until it returns true; fails with `what` and the daemon's log after `timeoutMs`. */
export const eventually = async (
  what: string,
  check: () => Promise<boolean>,
  options: { readonly timeoutMs?: number; readonly daemon?: Daemon } = {},
): Promise<void> => {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  let last = ""
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (error) {
      // Synapse may still be settling (a room just made); the check is asked again.
      last = `; last error: ${String(error)}`
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(
    `timed out waiting for ${what}${last}${options.daemon === undefined ? "" : `\n${options.daemon.log()}`}`,
  )
}

/**
 * Waits until the daemon is ready (database, homeserver, first full resync) and, unless
 * `standby` is allowed, leading (or a dry run): a standby is ready too, and the lock may
 * still be held for a moment by the replica of the test before, just killed.
 */
export const ready = (daemon: Daemon, options: { readonly standby?: boolean; readonly timeoutMs?: number } = {}) =>
  eventually(
    options.standby === true ? "/readyz to answer 200" : "/readyz to answer 200 as the leader",
    async () => {
      const { status, body } = await daemon.get("/readyz")
      return status === 200 && (options.standby === true || !body.includes('"role":"standby"'))
    },
    { timeoutMs: options.timeoutMs ?? 60_000, daemon },
  )

/** Starts daemons for a test file; those still running after each test are killed. */
export const daemonStarter = (): ((env: NodeJS.ProcessEnv) => Daemon) => {
  const running: Array<Daemon> = []
  afterEach(async () => {
    for (const daemon of running.splice(0)) if (daemon.process.exitCode === null) await daemon.stop("SIGKILL")
  })
  return (env) => {
    const daemon = startDaemon(env)
    running.push(daemon)
    return daemon
  }
}

/** What a daemon test file talks to: the services, Synapse directly, OpenMeet's database. */
export const harness = () => {
  const services = testServices()
  const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
  afterAll(() => db.dispose())
  /** Ends this database's sessions whose `application_name` starts with this, as a network cut would (other databases on the server are other deployments). */
  const terminate = (applicationName: string) =>
    db.runPromise(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE starts_with(application_name, ${applicationName}) AND datname = current_database()`,
      ),
    )
  /** A tenant of its own with users 1 and 2 and event 1 (`slug`, owned by user 1). */
  const eventTenant = async (prefix: string, slug: string): Promise<Tenant> => {
    const tenant = fixtureTenant(uniqueTenantId(prefix), services.serverName)
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug, userId: 1 })
      }),
    )
    return tenant
  }
  return { services, synapse: synapseClient(services), db, s: services.serverName, terminate, eventTenant }
}
