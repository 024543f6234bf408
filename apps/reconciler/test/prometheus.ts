import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parse, stringify } from "yaml"

/**
 * A real Prometheus server (Debian's package, unpacked by infra/dev/promtool.sh) for a
 * test: scrapes given targets every second as the job the alert rules select, evaluates
 * the rules every second, and answers its HTTP API on loopback.
 */

const repo = fileURLToPath(new URL("../../../", import.meta.url))

export interface AlertRule {
  readonly alert?: string
  readonly expr: string
  readonly for?: string
}
interface RuleFile {
  readonly groups: ReadonlyArray<{ readonly name: string; readonly rules: ReadonlyArray<AlertRule> }>
}

const isRuleFile = (value: unknown): value is RuleFile =>
  typeof value === "object" && value !== null && "groups" in value && Array.isArray(value.groups)

/** infra/prometheus/alerts.yaml as parsed. */
export const alertRules = (): RuleFile => {
  const value: unknown = parse(readFileSync(join(repo, "infra/prometheus/alerts.yaml"), "utf8"))
  if (!isRuleFile(value)) throw new Error("infra/prometheus/alerts.yaml: no groups")
  return value
}

/**
 * The alert rules with every `for:` shortened to `forDuration` (the real ones wait 5 to 30
 * minutes); the expressions, labels and annotations are the very same.
 */
export const rulesWithShortFor = (forDuration: string): RuleFile => {
  const rules = alertRules()
  return {
    groups: rules.groups.map((group) => ({
      ...group,
      rules: group.rules.map((rule) => (rule.for === undefined ? rule : { ...rule, for: forDuration })),
    })),
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface PrometheusAlert {
  readonly labels: Record<string, string>
  readonly state: "pending" | "firing" | "inactive"
}

export interface Prometheus {
  readonly url: string
  readonly version: string
  /** An instant query: the result vector (or scalar as one sample). */
  readonly query: (
    promql: string,
  ) => Promise<ReadonlyArray<{ readonly metric: Record<string, string>; readonly value: string }>>
  /** GET an API path under /api/v1 and return `data`. */
  readonly api: (path: string) => Promise<unknown>
  readonly alerts: () => Promise<ReadonlyArray<PrometheusAlert>>
  readonly log: () => string
  readonly stop: () => Promise<void>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Starts Prometheus scraping `targets` (host:port) as job `job`, with `rules` loaded. */
export const startPrometheus = async (options: {
  readonly targets: ReadonlyArray<string>
  readonly job: string
  readonly rules: RuleFile
}): Promise<Prometheus> => {
  const binary = execFileSync("bash", [join(repo, "infra/dev/promtool.sh"), "--which", "prometheus"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim()
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).split("\n")[0] ?? ""
  const dir = mkdtempSync(join(tmpdir(), "reconciler-prometheus-"))
  writeFileSync(join(dir, "rules.yaml"), stringify(options.rules))
  writeFileSync(
    join(dir, "prometheus.yml"),
    stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "900ms" },
      rule_files: ["rules.yaml"],
      scrape_configs: [{ job_name: options.job, static_configs: [{ targets: options.targets }] }],
    }),
  )
  const port = await freePort()
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  )
  let output = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const api = async (path: string): Promise<unknown> => {
    const response = await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(5_000) })
    const body: unknown = await response.json()
    if (!isRecord(body) || body.status !== "success") throw new Error(`Prometheus ${path}: ${JSON.stringify(body)}`)
    return body.data
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Prometheus did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return {
    url,
    version,
    api,
    query: async (promql) => {
      const data = await api(`query?query=${encodeURIComponent(promql)}`)
      if (!isRecord(data)) throw new Error(`query ${promql}: no data`)
      const samples = data.resultType === "scalar" ? [{ metric: {}, value: data.result }] : data.result
      if (!Array.isArray(samples)) throw new Error(`query ${promql}: ${JSON.stringify(data)}`)
      return samples.map((sample: unknown) => {
        const metric = isRecord(sample) && isRecord(sample.metric) ? sample.metric : {}
        const value = isRecord(sample) && Array.isArray(sample.value) ? String(sample.value[1]) : "?"
        return { metric: Object.fromEntries(Object.entries(metric).map(([k, v]) => [k, String(v)])), value }
      })
    },
    alerts: async () => {
      const data = await api("alerts")
      const alerts = isRecord(data) && Array.isArray(data.alerts) ? data.alerts : []
      return alerts.map((alert: unknown) => {
        const labels = isRecord(alert) && isRecord(alert.labels) ? alert.labels : {}
        const state = isRecord(alert) ? alert.state : "inactive"
        return {
          labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)])),
          state: state === "pending" || state === "firing" ? state : "inactive",
        }
      })
    },
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM")
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
