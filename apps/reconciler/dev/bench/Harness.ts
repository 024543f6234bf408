/**
 * What every benchmark scenario shares: the services (from the environment scripts/bench.sh
 * sets), the reconciler's layers over them, Matrix requests counted as the reconciler's
 * own telemetry reports them, timings with CPU and garbage collection, seeded tenants,
 * and the results written to bench/results/<scenario>.json.
 */

import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem } from "node:os"
import { PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { TelemetryService } from "@openmeet-reconciler/core"
import { defaultPolicy, Telemetry } from "@openmeet-reconciler/core"
import type { TenantRuntime } from "@openmeet-reconciler/engine"
import { Store } from "@openmeet-reconciler/engine"
import type { StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers, loadRegistration } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { dropTenantDdl, fixtureTenant, registryDdl, seedTenant } from "@openmeet-reconciler/openmeet/testing"
import { Effect, Layer, Redacted } from "effect"
import { parse } from "yaml"

export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

const required = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set (scripts/bench.sh sets it)`)
  return value
}

/** The services of this run: OpenMeet's database and a Synapse on PostgreSQL. */
export const services = () => {
  const registrationPath = required("APPSERVICE_REGISTRATION")
  const registration: unknown = parse(readFileSync(registrationPath, "utf8"))
  const field = (name: string) => {
    const value: unknown =
      typeof registration === "object" && registration !== null ? Reflect.get(registration, name) : undefined
    if (typeof value !== "string") throw new Error(`${registrationPath}: no ${name}`)
    return value
  }
  const serverName = required("MATRIX_SERVER_NAME")
  return {
    databaseUrl: required("DATABASE_URL"),
    homeserverUrl: required("MATRIX_HOMESERVER_URL"),
    registrationPath,
    asToken: field("as_token"),
    appserviceUrl: field("url"),
    serverName,
    bot: `@${field("sender_localpart")}:${serverName}`,
  }
}
export type Services = ReturnType<typeof services>

/**
 * The old-space limit (MiB) of the daemons and passes measured limited, as a container's
 * memory limit leads Node to size its heap: garbage is then collected long before the
 * heap Node would allow itself on a host with gigabytes free.
 */
export const heapLimitMiB = 256

/** The reconciler's own tables for the benchmarks. */
export const benchSchema = "bench_reconciler"

export const databaseLayer = (s: Services) =>
  Layer.mergeAll(DesiredState.layer, Store.layer(benchSchema)).pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(s.databaseUrl), applicationName: "reconciler-bench" })),
  )

export const homeserversLayer = (s: Services, cache?: StateCache, homeserverUrl = s.homeserverUrl) =>
  Layer.unwrapEffect(
    Effect.map(loadRegistration(s.registrationPath), (registration) =>
      Homeservers.layer({ homeserverUrl, asToken: registration.asToken }, {}, cache),
    ),
  )

export interface Requests {
  readonly total: number
  readonly reads: number
  readonly writes: number
  readonly byEndpoint: Readonly<Record<string, number>>
}

/** Every Matrix request the reconciler makes (each attempt), by endpoint, from its own telemetry. */
export const requestCounter = () => {
  const counts = new Map<string, number>()
  const snapshot = () => new Map(counts)
  const since = (before: ReadonlyMap<string, number>): Requests => {
    const byEndpoint: Record<string, number> = {}
    for (const [endpoint, n] of counts) {
      const d = n - (before.get(endpoint) ?? 0)
      if (d > 0) byEndpoint[endpoint] = d
    }
    const sum = (keep: (endpoint: string) => boolean) =>
      Object.entries(byEndpoint).reduce((n, [endpoint, d]) => (keep(endpoint) ? n + d : n), 0)
    return {
      total: sum(() => true),
      reads: sum((e) => e.startsWith("GET ")),
      writes: sum((e) => !e.startsWith("GET ") && !e.includes("/ping")),
      byEndpoint,
    }
  }
  const layer = Layer.effect(
    Telemetry,
    Effect.map(
      Telemetry,
      (base): TelemetryService => ({
        ...base,
        matrixRequest: (endpoint, code, seconds) => {
          counts.set(endpoint, (counts.get(endpoint) ?? 0) + 1)
          base.matrixRequest(endpoint, code, seconds)
        },
      }),
    ),
  )
  return { layer, snapshot, since }
}

let gcMs = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration
}).observe({ entryTypes: ["gc"] })

export interface Timing {
  readonly ms: number
  /** This process's CPU (user and system). */
  readonly cpuMs: number
  /** Time in garbage collection. */
  readonly gcMs: number
}

/** Runs an effect and tells how long it took. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const gc = gcMs
    const cpu = process.cpuUsage()
    const started = performance.now()
    const value = yield* effect
    const used = process.cpuUsage(cpu)
    const timing: Timing = {
      ms: performance.now() - started,
      cpuMs: (used.user + used.system) / 1000,
      gcMs: gcMs - gc,
    }
    return { value, timing }
  })

/** The median run of several, by wall time. */
export const median = (timings: ReadonlyArray<Timing>): Timing => {
  const sorted = [...timings].sort((a, b) => a.ms - b.ms)
  const middle = sorted[Math.floor(sorted.length / 2)]
  if (middle === undefined) throw new Error("no timing")
  return middle
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
}

/** A tenant of `events` events (about 1.2 rooms each with its groups), seeded from scratch. */
export const seededTenant = (
  s: Services,
  prefix: string,
  events: number,
  options: { readonly attendeesPerEvent?: number; readonly seed?: number; readonly reuse?: boolean } = {},
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tenant = fixtureTenant(prefix, s.serverName)
    const runtime: TenantRuntime = { tenant, policy: defaultPolicy, botUserId: s.bot }
    if (options.reuse === true) {
      const [found] = yield* sql<{
        present: boolean
      }>`SELECT to_regclass(${`${tenant.schema}.events`}) IS NOT NULL AS present`
      if (found?.present === true) return { runtime, seeded: undefined }
    }
    for (const statement of [...registryDdl, ...dropTenantDdl(tenant.schema, tenant.id)]) yield* sql.unsafe(statement)
    const seeded = yield* seedTenant({
      tenant,
      seed: options.seed ?? 11,
      events,
      ...(options.attendeesPerEvent === undefined ? {} : { attendeesPerEvent: options.attendeesPerEvent }),
    })
    return { runtime, seeded }
  })

/** What the results of a run are measured on; the load average shows how shared the machine was. */
export const machine = (s: Services) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [pg] = yield* sql<{ version: string }>`SELECT current_setting('server_version') AS version`
    const synapse = yield* Effect.promise(() =>
      fetch(new URL("/_matrix/client/versions", s.homeserverUrl)).then((r) => r.headers.get("server") ?? "unknown"),
    )
    const cpu = cpus()
    return {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      synapse: `${synapse} on PostgreSQL`,
      postgres: pg?.version ?? "unknown",
      loadAverage: loadavg().map((n) => Math.round(n * 10) / 10),
      commit: codeVersion(),
    }
  })

/** The commit measured, `+changes` when the code in the worktree differs from it (which code a figure belongs to). */
const codeVersion = (): string => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim()
    const dirty = execFileSync(
      "git",
      [
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        // What the benchmarks write themselves.
        ":!bench/results",
        ":!docs/benchmarks.md",
      ],
      {
        cwd: repoRoot,
        encoding: "utf8",
      },
    ).trim()
    return dirty === "" ? head : `${head}+changes`
  } catch {
    return "unknown"
  }
}

export interface ScenarioResult {
  readonly scenario: string
  readonly quick: boolean
  readonly date: string
  readonly machine: Effect.Effect.Success<ReturnType<typeof machine>>
  readonly data: unknown
}

export const writeResult = (result: ScenarioResult) => {
  const dir = `${repoRoot}bench/results`
  mkdirSync(dir, { recursive: true })
  writeFileSync(`${dir}/${result.scenario}.json`, `${JSON.stringify(result, null, 2)}\n`)
}

/** A progress line on stderr (the results go to JSON and docs/benchmarks.md). */
export const say = (line: string) => Effect.sync(() => process.stderr.write(`[bench] ${line}\n`))

export const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/**
 * New confirmed attendees, one per event given (an active user with a handle who has no
 * row there yet): drift the reconciler answers with exactly one invite each.
 */
export const newAttendees = (runtime: TenantRuntime, events: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const t = (name: string) => sql(`${runtime.tenant.schema}.${name}`)
    const rows = yield* sql<{ event: number; user: number; handle: string }>`
      SELECT e.id AS event, pick.id AS "user", pick.handle FROM ${t("events")} e
      CROSS JOIN LATERAL (
        SELECT u.id, h.handle FROM ${t("users")} u
        JOIN public."matrixHandleRegistry" h ON h."userId" = u.id AND h."tenantId" = ${runtime.tenant.id}
        WHERE u."statusId" = 1 AND u."deletedAt" IS NULL AND u.id <> e."userId"
          AND NOT EXISTS (SELECT 1 FROM ${t("eventAttendees")} a WHERE a."eventId" = e.id AND a."userId" = u.id)
        ORDER BY (u.id * 7919 + e.id) % 1000003 LIMIT 1) pick
      WHERE e.id = ANY(${sql`${[...events]}::int[]`})`
    const server = runtime.tenant.serverName
    return rows.map((row) => ({ event: row.event, user: row.user, matrixId: `@${row.handle}:${server}` }))
  })

/** Inserts one attendee row; returns when it is committed (the database's clock, ms). */
export const insertAttendee = (runtime: TenantRuntime, row: { readonly event: number; readonly user: number }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const t = (name: string) => sql(`${runtime.tenant.schema}.${name}`)
    yield* sql`INSERT INTO ${t("eventAttendees")} ("eventId", "userId", status, "roleId")
      VALUES (${row.event}, ${row.user}, 'confirmed', (SELECT id FROM ${t("eventRoles")} WHERE name = 'participant'))`
    return Date.now()
  })
