import { readFileSync } from "node:fs"
import {
  actionResults,
  actionTypes,
  dbQueries,
  droppedInputs,
  matrixEndpoints,
  queueSources,
  reconcileResults,
  roomKinds,
  roomStatuses,
} from "@openmeet-reconciler/core"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { makeMetrics } from "../src/index.ts"

/**
 * The Grafana dashboard, the Prometheus alerts and the docs against the metrics the
 * reconciler really exports (Metrics.ts is the source of truth): no panel or alert on a
 * metric that does not exist, no metric left undocumented, a runbook for every alert.
 */

const repo = new URL("../../../", import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, repo), "utf8")

/** Metric names of the registry, with the series names of histograms and summaries, plus `up`. */
const exported = async () => {
  const { registry } = makeMetrics({ tenants: ["t1"] })
  const metrics = await registry.getMetricsAsJSON()
  const series = new Set<string>(["up"])
  for (const metric of metrics) {
    series.add(metric.name)
    if (String(metric.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) series.add(metric.name + s)
    if (String(metric.type) === "summary") for (const s of ["_sum", "_count"]) series.add(metric.name + s)
  }
  const labelNames = (name: string): ReadonlyArray<string> => {
    const metric = registry.getSingleMetric(name) as unknown as { readonly labelNames?: ReadonlyArray<string> }
    if (!Array.isArray(metric?.labelNames)) throw new Error(`no label names for ${name}`)
    return metric.labelNames
  }
  return { names: metrics.map((m) => m.name), series, labelNames }
}

const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool"])
const operators = new Set(["and", "or", "unless", "offset", "inf", "nan"])

/**
 * The metric names a PromQL expression selects. Strings, Grafana variables, label
 * matchers, ranges and grouping clauses are dropped; what remains is a name unless it
 * calls (function, aggregation) or is a keyword or number. `label_values(sel, label)`
 * (a Grafana variable query) is read as `sel`.
 */
const metricNames = (expr: string): ReadonlyArray<string> => {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\blabel_values\s*\(([^,)]*)(,[^)]*)?\)/g, " $1 ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
  const names = new Set<string>()
  for (const token of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*|[0-9][A-Za-z0-9_.]*/g)) {
    const name = token[0]
    const index = token.index ?? 0
    if (/^[0-9]/.test(name) || keywords.has(name) || operators.has(name.toLowerCase())) continue
    if (/^\s*\(/.test(text.slice(index + name.length))) continue
    names.add(name)
  }
  return [...names].sort()
}

interface Panel {
  readonly title?: string
  readonly type?: string
  readonly targets?: ReadonlyArray<{ readonly expr?: string }>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly schemaVersion: number
  readonly panels: ReadonlyArray<Panel>
  readonly templating: {
    readonly list: ReadonlyArray<{
      readonly name: string
      readonly type: string
      readonly query?: string | { readonly query?: string }
    }>
  }
}

interface AlertRule {
  readonly alert: string
  readonly expr: string
  readonly for?: string
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
}

const dashboard = (): Dashboard => JSON.parse(read("infra/grafana/reconciler.json"))
const panelsOf = (panels: ReadonlyArray<Panel>): ReadonlyArray<Panel> =>
  panels.flatMap((panel) => [panel, ...panelsOf(panel.panels ?? [])])
const exprsOf = (board: Dashboard) =>
  panelsOf(board.panels).flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) =>
      target.expr === undefined ? [] : [{ where: `panel "${panel.title}"`, expr: target.expr }],
    ),
  )
const variableQuery = (query: string | { readonly query?: string } | undefined): string =>
  typeof query === "string" ? query : (query?.query ?? "")

const alerts = (): ReadonlyArray<AlertRule> => {
  const file = parse(read("infra/prometheus/alerts.yaml")) as { groups: ReadonlyArray<{ rules: Array<AlertRule> }> }
  return file.groups.flatMap((group) => group.rules.filter((rule) => rule.alert !== undefined))
}

/** Every name an expression selects that the reconciler does not export, as `where: name`. */
const unknownNames = (
  exprs: ReadonlyArray<{ readonly where: string; readonly expr: string }>,
  series: ReadonlySet<string>,
) => exprs.flatMap(({ where, expr }) => metricNames(expr).flatMap((n) => (series.has(n) ? [] : [`${where}: ${n}`])))

describe("metricNames", () => {
  it("finds the selected metrics and nothing else", () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (le, endpoint) (rate(reconciler_matrix_request_duration_seconds_bucket{job=~"$job", code!~"2.."}[$__rate_interval]))) > 0.5 and on (instance) up offset 5m',
      ),
    ).toEqual(["reconciler_matrix_request_duration_seconds_bucket", "up"])
    expect(metricNames("time() - max by (job) (reconciler_leader) > 3 * 600 or absent(nope_total)")).toEqual([
      "nope_total",
      "reconciler_leader",
    ])
    expect(metricNames('label_values(reconciler_rooms{job=~"$job"}, tenant)')).toEqual(["reconciler_rooms"])
  })

  it("reports names the registry does not export", async () => {
    const { series } = await exported()
    expect(unknownNames([{ where: "test", expr: "rate(reconciler_reconciles_total[5m])" }], series)).toEqual([
      "test: reconciler_reconciles_total",
    ])
  })
})

describe("Grafana dashboard", () => {
  it("queries only metrics the reconciler exports", async () => {
    const { series } = await exported()
    const board = dashboard()
    const exprs = exprsOf(board)
    expect(exprs.length).toBeGreaterThan(20)
    const variables = board.templating.list
      .filter((v) => v.type === "query")
      .map((v) => ({ where: `variable $${v.name}`, expr: variableQuery(v.query) }))
    expect(unknownNames([...exprs, ...variables], series)).toEqual([])
  })

  it("shows every reconciler metric", async () => {
    const { names } = await exported()
    const used = new Set(exprsOf(dashboard()).flatMap(({ expr }) => metricNames(expr)))
    const shown = (name: string) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`].some((n) => used.has(n))
    expect(names.filter((name) => name.startsWith("reconciler_") && !shown(name))).toEqual([])
  })

  it("is importable: schema 39, a Prometheus data source variable, a tenant variable from reconciler_rooms", () => {
    const board = dashboard()
    expect(board.schemaVersion).toBeGreaterThanOrEqual(39)
    const variables = new Map(board.templating.list.map((v) => [v.name, v]))
    expect(variables.get("datasource")).toMatchObject({ type: "datasource", query: "prometheus" })
    expect(variableQuery(variables.get("tenant")?.query)).toMatch(/^label_values\(reconciler_rooms\b.*, tenant\)$/)
    const datasources = panelsOf(board.panels)
      .filter((panel) => panel.type !== "row")
      .flatMap((panel) => [
        { where: panel.title, uid: (panel as { datasource?: { uid?: string } }).datasource?.uid },
        ...(panel.targets ?? []).map((t) => ({
          where: panel.title,
          uid: (t as { datasource?: { uid?: string } }).datasource?.uid,
        })),
      ])
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
    expect(datasources.filter((d) => d.uid !== "${datasource}")).toEqual([])
  })
})

describe("Prometheus alerts", () => {
  const expected = [
    "ReconcilerDown",
    "ReconcilerNoLeader",
    "ReconcilerTenantWithoutLeader",
    "ReconcilerFullSyncStale",
    "ReconcilerErrorsHigh",
    "ReconcilerRoomsBlocked",
    "ReconcilerDestructiveActionsHeld",
    "ReconcilerMatrixRateLimited",
    "ReconcilerQueueBackingUp",
  ]

  it("are the expected ones, each with severity, summary, description and a runbook link", () => {
    const rules = alerts()
    expect(rules.map((rule) => rule.alert).sort()).toEqual([...expected].sort())
    const incomplete = rules.flatMap((rule) => {
      const missing = [
        ...(["critical", "warning"].includes(rule.labels?.severity ?? "") ? [] : ["severity"]),
        ...["summary", "description"].filter((a) => !rule.annotations?.[a]),
        ...(rule.annotations?.runbook_url === `docs/operations.md#${rule.alert.toLowerCase()}` ? [] : ["runbook_url"]),
        ...(rule.for === undefined ? ["for"] : []),
      ]
      return missing.length === 0 ? [] : [`${rule.alert}: ${missing.join(", ")}`]
    })
    expect(incomplete).toEqual([])
  })

  it("query only metrics the reconciler exports", async () => {
    const { series } = await exported()
    expect(
      unknownNames(
        alerts().map((rule) => ({ where: rule.alert, expr: rule.expr })),
        series,
      ),
    ).toEqual([])
  })

  it("each have a runbook section in docs/operations.md", () => {
    const headings = new Set(
      read("docs/operations.md")
        .split("\n")
        .flatMap((line) => (line.startsWith("## ") ? [line.slice(3).trim()] : [])),
    )
    expect(
      alerts()
        .filter((rule) => !headings.has(rule.alert))
        .map((rule) => rule.alert),
    ).toEqual([])
  })

  it("each have promtool tests where they fire and where they do not", () => {
    const file = parse(read("infra/prometheus/alerts.test.yaml")) as {
      tests: ReadonlyArray<{
        alert_rule_test?: ReadonlyArray<{ alertname: string; exp_alerts?: ReadonlyArray<unknown> }>
      }>
    }
    const cases = file.tests.flatMap((test) => test.alert_rule_test ?? [])
    const untested = alerts().flatMap((rule) => {
      const own = cases.filter((c) => c.alertname === rule.alert)
      return [
        ...(own.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${rule.alert}: no case where it fires`]),
        ...(own.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${rule.alert}: no case where it does not`]),
      ]
    })
    expect(untested).toEqual([])
  })
})

describe("docs/metrics.md", () => {
  const doc = () => read("docs/metrics.md")
  /** The text under each `### \`name\`` heading, by name. */
  const sections = (text: string) => {
    const result = new Map<string, string>()
    for (const part of text.split(/^### /m).slice(1)) {
      const name = /^`([^`]+)`/.exec(part)?.[1]
      if (name !== undefined) result.set(name, part.split(/^## /m)[0] ?? "")
    }
    return result
  }

  it("has a section for every reconciler metric, naming its labels", async () => {
    const { names, labelNames } = await exported()
    const bySection = sections(doc())
    const missing = names
      .filter((name) => name.startsWith("reconciler_"))
      .flatMap((name) => {
        const section = bySection.get(name)
        if (section === undefined) return [`${name}: no section`]
        return labelNames(name).flatMap((label) =>
          section.includes(`\`${label}\``) ? [] : [`${name}: label ${label}`],
        )
      })
    expect(missing).toEqual([])
  })

  it("names every label value known in advance", () => {
    const text = doc()
    const values = [
      ...roomKinds,
      ...reconcileResults,
      ...roomStatuses,
      ...actionTypes,
      ...actionResults,
      ...queueSources,
      ...matrixEndpoints,
      ...dbQueries,
      ...droppedInputs,
    ]
    expect(values.filter((value) => !text.includes(`\`${value}\``))).toEqual([])
  })

  it("mentions no reconciler metric the registry does not export", async () => {
    const { series } = await exported()
    const mentioned = [...new Set([...doc().matchAll(/\breconciler_[a-z0-9_]+/g)].map((m) => m[0]))]
    expect(mentioned.length).toBeGreaterThan(0)
    expect(mentioned.filter((name) => !series.has(name))).toEqual([])
  })
})
