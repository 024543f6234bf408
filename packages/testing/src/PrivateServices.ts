/**
 * PostgreSQL and Synapse instances of one test file's own, for tests that stop the real
 * process (an outage) or need another configuration (Synapse's own rate limits, password
 * authentication): started from the installed binaries by infra/dev's scripts on ports
 * and folders no one else uses, stopped after the file (and when the test process exits),
 * and begun afresh when a crashed run left one behind.
 */
import { execFile, execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { TestServices } from "./Services.ts"
import { servicesOf } from "./Services.ts"

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const root = join(tmpdir(), "openmeet-reconciler-private")

/** Runs one of infra/dev's scripts with exactly these settings (never the shared services' ones). */
const script = (name: string, args: ReadonlyArray<string>, env: Record<string, string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(
      "bash",
      [join(repo, "infra/dev", name), ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`infra/dev/${name} ${args.join(" ")}: ${stderr}`)),
    )
  })

/** Stops an instance when the test process ends, whatever ended it short of SIGKILL. */
const stopOnExit = (name: string, args: ReadonlyArray<string>, env: Record<string, string>) => {
  const stop = () => {
    try {
      execFileSync("bash", [join(repo, "infra/dev", name), ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        stdio: "ignore",
      })
    } catch {
      // Already gone.
    }
  }
  process.once("exit", stop)
  return () => process.removeListener("exit", stop)
}

export interface PrivatePostgres {
  readonly port: number
  /** A database of the cluster, as `user` (with `password`, when the cluster asks for one). */
  readonly url: (database: string, user?: string, password?: string) => string
  /** OpenMeet's database in the cluster (`openmeet`), as the superuser. */
  readonly databaseUrl: string
  readonly adminUrl: string
  /** Starts the server process (it keeps its data). */
  readonly start: () => Promise<void>
  /** Stops the server process (`pg_ctl stop -m fast`: sessions are ended). */
  readonly stop: () => Promise<void>
  /** Asks passwords (SCRAM) of `role` over TCP from now on; other roles keep trust. */
  readonly requirePassword: (role: string) => Promise<void>
  /** Stops it and removes its data. */
  readonly dispose: () => Promise<void>
}

/** A PostgreSQL cluster of the caller's own on `port` (19400–19999 are free for tests). */
export const privatePostgres = async (name: string, port: number): Promise<PrivatePostgres> => {
  const dir = join(root, name)
  const data = join(dir, "pg")
  const env = { RECONCILER_STATE: dir, PG_PORT: String(port), PG_DATA_DIR: data, PG_DATABASE: "openmeet" }
  await script("postgres.sh", ["stop"], env).catch(() => "")
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  await script("postgres.sh", ["start"], env)
  const forget = stopOnExit("postgres.sh", ["stop"], env)
  const url = (database: string, user = "postgres", password?: string) =>
    `postgres://${encodeURIComponent(user)}${password === undefined ? "" : `:${encodeURIComponent(password)}`}@127.0.0.1:${port}/${database}`
  return {
    port,
    url,
    databaseUrl: url("openmeet"),
    adminUrl: url("postgres"),
    start: () => script("postgres.sh", ["start"], env).then(() => undefined),
    stop: () => script("postgres.sh", ["stop"], env).then(() => undefined),
    requirePassword: async (role) => {
      const hba = join(data, "pg_hba.conf")
      // The first matching line wins: this one goes above initdb's `trust` lines.
      writeFileSync(hba, `host all ${role} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, "utf8")}`)
      const bin = execFileSync("bash", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1"])
        .toString()
        .trim()
      execFileSync("runuser", ["-u", "postgres", "--", join(bin, "pg_ctl"), "reload", "-D", data], {
        stdio: "ignore",
      })
    },
    dispose: async () => {
      forget()
      await script("postgres.sh", ["stop"], env).catch(() => "")
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface PrivateSynapseOptions {
  /** The client API's port. */
  readonly port: number
  /** Where it sends transactions (the registration's url): daemons under test listen there. */
  readonly appservicePort: number
  /** Synapse's own rate limits, and a registration with `rate_limited: true`. */
  readonly rateLimited?: boolean
  /** OpenMeet's database the tests pair it with. */
  readonly databaseUrl: string
}

export interface PrivateSynapse {
  readonly services: TestServices
  /** Starts the homeserver process (it keeps its rooms). */
  readonly start: () => Promise<void>
  /** Stops the homeserver process (SIGTERM, as an operator's restart). */
  readonly stop: () => Promise<void>
  readonly dispose: () => Promise<void>
}

/** A Synapse of the caller's own (server name openmeet.test), empty at first. */
export const privateSynapse = async (name: string, options: PrivateSynapseOptions): Promise<PrivateSynapse> => {
  const dir = join(root, name)
  const env: Record<string, string> = {
    RECONCILER_STATE: dir,
    SYNAPSE_DATA_DIR: join(dir, "synapse"),
    SYNAPSE_PORT: String(options.port),
    APPSERVICE_PORT: String(options.appservicePort),
    SYNAPSE_SERVER_NAME: "openmeet.test",
    ...(options.rateLimited === true ? { SYNAPSE_RATE_LIMITS: "synapse", APPSERVICE_RATE_LIMITED: "true" } : {}),
  }
  await script("synapse.sh", ["stop"], env).catch(() => "")
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  await script("synapse.sh", ["start"], env)
  const forget = stopOnExit("synapse.sh", ["stop"], env)
  const services = servicesOf({
    databaseUrl: options.databaseUrl,
    homeserverUrl: `http://127.0.0.1:${options.port}`,
    registrationPath: join(dir, "synapse", "registration.yaml"),
    serverName: "openmeet.test",
  })
  return {
    services,
    start: () => script("synapse.sh", ["start"], env).then(() => undefined),
    stop: () => script("synapse.sh", ["stop"], env).then(() => undefined),
    dispose: async () => {
      forget()
      await script("synapse.sh", ["stop"], env).catch(() => "")
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
