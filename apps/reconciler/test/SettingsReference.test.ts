import { readFileSync } from "node:fs"
import { Duration, Effect, Option } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { loadDaemonSettings } from "../src/Settings.ts"
import {
  envName,
  renderSettingsTable,
  settingDefaults,
  settingsReference,
  withSettingsTable,
} from "../src/SettingsReference.ts"

/**
 * The settings reference (SettingsReference.ts) against what the code reads and what the
 * documents say: a setting added to the loader without a row, or a table edited by hand,
 * fails here.
 */

const repo = new URL("../../../", import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, repo), "utf8")
const documented = new Set(settingsReference.map((setting) => setting.name))

describe("settings reference", () => {
  it("has a row for every setting Settings.ts reads, and no row for one nobody reads", () => {
    const source = read("apps/reconciler/src/Settings.ts")
    const read_ = new Set(
      [
        ...source.matchAll(
          /\b(?:Config\.(?:string|redacted|integer|boolean)|port|duration|httpUrl)\("([a-zA-Z][a-zA-Z0-9]*)"/g,
        ),
      ].map((match) => match[1] ?? ""),
    )
    expect([...read_].filter((name) => !documented.has(name))).toEqual([])
    // LOG_LEVEL and LOG_FORMAT are read by main.ts before the CLI starts, OTEL_* by the tracing layer.
    const main = read("apps/reconciler/src/main.ts")
    const elsewhere = ["logLevel", "logFormat"].filter((name) => main.includes(`process.env.${envName(name)}`))
    expect(elsewhere).toEqual(["logLevel", "logFormat"])
    expect(read("packages/observability/src/Tracing.ts")).toContain("OTEL_EXPORTER_OTLP_ENDPOINT")
    expect(
      settingsReference.map((s) => s.name).filter((name) => !read_.has(name) && ![...elsewhere, "otel"].includes(name)),
    ).toEqual([])
  })

  it("has one row per setting, each with a description", () => {
    expect(documented.size).toBe(settingsReference.length)
    expect(settingsReference.filter((s) => s.description.trim().length < 10).map((s) => s.name)).toEqual([])
  })

  it("renders the README's and docs/deploy.md's settings tables exactly", () => {
    for (const path of ["README.md", "docs/deploy.md"]) {
      const text = read(path)
      expect(withSettingsTable(text), `${path}: run node apps/reconciler/dev/settings-table.ts --write`).toBe(text)
      expect(text).toContain(renderSettingsTable())
    }
  })
})

describe("the loader's defaults", () => {
  const saved = new Map<string, string | undefined>()
  afterEach(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    saved.clear()
  })

  it("are the documented ones", async () => {
    for (const name of Object.keys(settingDefaults)) {
      saved.set(envName(name), process.env[envName(name)])
      delete process.env[envName(name)]
    }
    const settings = await Effect.runPromise(loadDaemonSettings(Option.none()))
    expect({
      appservicePort: settings.appservicePort,
      httpPort: settings.httpPort,
      listenAddress: settings.listenAddress,
      resyncInterval: Duration.toMillis(settings.resyncInterval),
      pollInterval: Duration.toMillis(settings.pollInterval),
      notifyChannel: settings.notifyChannel,
      reconcileWorkers: settings.workers,
      reconcileBatchSize: settings.batchSize,
      stateCacheTtl: Duration.toMillis(settings.stateCacheTtl),
      shutdownGrace: Duration.toMillis(settings.shutdownGrace),
      dryRun: settings.dryRun,
    }).toEqual({
      appservicePort: 9000,
      httpPort: 9090,
      listenAddress: "0.0.0.0",
      resyncInterval: 600_000,
      pollInterval: 30_000,
      notifyChannel: "matrix_reconciler_changes",
      reconcileWorkers: 4,
      reconcileBatchSize: 50,
      stateCacheTtl: 3_600_000,
      shutdownGrace: 30_000,
      dryRun: false,
    })
  })
})
