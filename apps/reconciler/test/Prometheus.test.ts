import { readFileSync } from "node:fs"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { tcpProxy, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Daemon, daemonEnv, eventually, harness, ready, startDaemon } from "./daemon.ts"
import { alertRules, type Prometheus, rulesWithShortFor, startPrometheus } from "./prometheus.ts"

/**
 * The alert rules and the dashboard against a real Prometheus (Debian's package) scraping a
 * real daemon (real PostgreSQL, real Synapse behind a TCP proxy), through faults:
 *   healthy          → no alert at all, pending or firing
 *   a room blocked   → ReconcilerRoomsBlocked goes pending, then firing (and nothing else)
 *   homeserver down  → ReconcilerErrorsHigh too (an invite cut on the wire, then refused)
 *   daemon killed    → ReconcilerDown and ReconcilerNoLeader
 * and every panel's query of infra/grafana/reconciler.json returns data from it.
 *
 * The rules are infra/prometheus/alerts.yaml with each `for:` shortened to 3s (the real ones
 * wait 5 to 30 minutes); the expressions are the very same (asserted below). Prometheus
 * scrapes and evaluates every second.
 */

const job = "openmeet-reconciler"
const { services, synapse, db, s } = harness()
const tenant = fixtureTenant(uniqueTenantId("prm"), s)

let daemon: Daemon
let prometheus: Prometheus
let proxy: Awaited<ReturnType<typeof tcpProxy>>

beforeAll(async () => {
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4, 5]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "healthy", userId: 1 })
      yield* addAttendee(tenant, { eventId: 1, userId: 1, status: "confirmed", role: "host" })
      yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
    }),
  )
  proxy = await tcpProxy(new URL(services.homeserverUrl))
  daemon = startDaemon(
    daemonEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      MATRIX_HOMESERVER_URL: proxy.url,
      POLL_INTERVAL: "500ms",
    }),
  )
  await ready(daemon)
  prometheus = await startPrometheus({
    targets: [`127.0.0.1:${daemon.httpPort}`],
    job,
    rules: rulesWithShortFor("3s"),
  })
})

afterAll(async () => {
  if (daemon !== undefined && daemon.process.exitCode === null) await daemon.stop("SIGKILL")
  await prometheus?.stop()
  await proxy?.close()
})

/** The alerts that are pending or firing now, as `name:state`, sorted. */
const activeAlerts = async () =>
  (await prometheus.alerts())
    .filter((a) => a.state !== "inactive")
    .map((a) => `${a.labels.alertname}:${a.state}`)
    .sort()

/** Waits until `name` fires; returns every state it was seen in on the way. */
const firing = async (name: string, timeoutMs = 60_000) => {
  const seen = new Set<string>()
  await eventually(
    `${name} to fire`,
    async () => {
      for (const alert of await prometheus.alerts()) if (alert.labels.alertname === name) seen.add(alert.state)
      return seen.has("firing")
    },
    { timeoutMs, daemon },
  )
  return seen
}

describe("the test's rules", () => {
  it("are alerts.yaml's with only `for:` shortened", () => {
    const original = alertRules().groups.flatMap((g) => g.rules)
    const short = rulesWithShortFor("3s").groups.flatMap((g) => g.rules)
    expect(short.map((r) => ({ ...r, for: undefined }))).toEqual(original.map((r) => ({ ...r, for: undefined })))
    expect(original.every((r) => r.for !== undefined && r.for !== "3s")).toBe(true)
  })
})

describe(`Prometheus scraping a daemon`, () => {
  it("scrapes it as the alerts' job and raises no alert while all is well", async () => {
    await eventually("Prometheus to scrape the leader", async () => {
      const leader = await prometheus.query(`reconciler_leader{job="${job}"}`)
      return leader.length === 1 && leader[0]?.value === "1"
    })
    // Every rule evaluated at least twice after the first scrape, then watched for a while.
    const since = Date.now()
    await eventually("every rule to be evaluated after the first scrape", async () => {
      const data = await prometheus.api("rules")
      const groups =
        typeof data === "object" && data !== null && "groups" in data && Array.isArray(data.groups) ? data.groups : []
      const evaluations = groups.flatMap((group: { rules?: ReadonlyArray<{ lastEvaluation?: string }> }) =>
        (group.rules ?? []).map((rule) => Date.parse((rule.lastEvaluation ?? "").replace(/(\.\d{3})\d*/, "$1"))),
      )
      return (
        evaluations.length === alertRules().groups.flatMap((g) => g.rules).length &&
        evaluations.every((t) => t > since + 1500)
      )
    })
    const seen = new Set<string>()
    for (let i = 0; i < 8; i++) {
      for (const alert of await activeAlerts()) seen.add(alert)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    expect([...seen]).toEqual([])
    expect((await prometheus.query(`up{job="${job}"}`)).map((r) => r.value)).toEqual(["1"])
  })

  it("a room whose alias another user holds: ReconcilerRoomsBlocked goes pending, then fires", async () => {
    const owner = await synapse.register(`owner-${tenant.id}`)
    await synapse.call(
      "POST",
      "/_matrix/client/v3/createRoom",
      { room_alias_name: `event-taken-${tenant.id}`, preset: "private_chat" },
      owner,
    )
    await db.runPromise(addEvent(tenant, { id: 2, slug: "taken", userId: 1 }))
    const states = await firing("ReconcilerRoomsBlocked")
    expect([...states].sort()).toEqual(["firing", "pending"])
    expect(await activeAlerts()).toEqual(["ReconcilerRoomsBlocked:firing"])
    expect(await prometheus.query(`sum(reconciler_rooms{job="${job}", status="blocked"})`)).toMatchObject([
      { value: "1" },
    ])
  })

  it("the homeserver goes away mid-invite: ReconcilerErrorsHigh fires too", async () => {
    // The invite reaches Synapse's door, the connection is cut, and the homeserver is gone.
    proxy.cutAt("POST /_matrix/client/v3/rooms/", 1)
    await db.runPromise(
      Effect.gen(function* () {
        yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" })
        yield* addAttendee(tenant, { eventId: 1, userId: 4, status: "confirmed" })
      }),
    )
    await eventually("the proxy to cut the invite", async () => proxy.isDown(), { daemon })
    const states = await firing("ReconcilerErrorsHigh", 90_000)
    expect(states.has("firing")).toBe(true)
    // Nothing else: the blocked room may leave RoomsBlocked meanwhile (its retry ends in an
    // error while the homeserver is away, and a room's last status is what is counted).
    expect(
      (await activeAlerts()).filter(
        (a) => !["ReconcilerErrorsHigh:firing", "ReconcilerRoomsBlocked:firing"].includes(a),
      ),
    ).toEqual([])
    expect(await activeAlerts()).toContain("ReconcilerErrorsHigh:firing")
    expect(
      Number((await prometheus.query(`sum(reconciler_reconcile_total{job="${job}", result="error"})`))[0]?.value),
    ).toBeGreaterThan(0)
  })

  it("every panel of the dashboard and its variables get data", async () => {
    const board = JSON.parse(readFileSync(new URL("../../../infra/grafana/reconciler.json", import.meta.url), "utf8"))
    const exprs = panelExprs(board)
    expect(exprs.length).toBeGreaterThan(20)
    // Grafana's variables as a person viewing this job sees them ("All" instances and tenants).
    const substitute = (expr: string) =>
      expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$job", job)
        .replaceAll("$instance", ".*")
        .replaceAll("$tenant", ".*")
    const empty: Array<string> = []
    await eventually(
      "every panel to have data",
      async () => {
        empty.length = 0
        for (const { title, expr } of exprs) {
          if ((await prometheus.query(substitute(expr))).length === 0) empty.push(`${title}: ${expr}`)
        }
        return empty.length === 0
      },
      { timeoutMs: 30_000 },
    ).catch(() => undefined)
    expect(empty).toEqual([])
    // The variables: label_values(selector, label) is Grafana's; Prometheus' series API answers it.
    for (const [label, expected] of [
      ["job", job],
      ["instance", `127.0.0.1:${daemon.httpPort}`],
      ["tenant", tenant.id],
    ] as const) {
      const variable = variableQuery(board, label)
      const match = /^label_values\((.*),\s*(\w+)\)$/.exec(variable)
      expect(match?.[2]).toBe(label)
      const values = await prometheus.api(
        `label/${label}/values?match[]=${encodeURIComponent(substitute(match?.[1] ?? ""))}`,
      )
      expect(values).toContain(expected)
    }
  })

  it("the daemon killed: ReconcilerDown and ReconcilerNoLeader fire", async () => {
    await daemon.stop("SIGKILL")
    await firing("ReconcilerDown")
    await firing("ReconcilerNoLeader")
    expect(await prometheus.query(`up{job="${job}"}`)).toMatchObject([{ value: "0" }])
  })
})

interface Panel {
  readonly title?: string
  readonly targets?: ReadonlyArray<{ readonly expr?: string }>
  readonly panels?: ReadonlyArray<Panel>
}
const isPanels = (value: unknown): value is ReadonlyArray<Panel> => Array.isArray(value)

const panelExprs = (board: unknown): ReadonlyArray<{ readonly title: string; readonly expr: string }> => {
  const walk = (panels: ReadonlyArray<Panel>): ReadonlyArray<{ title: string; expr: string }> =>
    panels.flatMap((panel) => [
      ...(panel.targets ?? []).flatMap((t) =>
        t.expr === undefined ? [] : [{ title: panel.title ?? "?", expr: t.expr }],
      ),
      ...walk(panel.panels ?? []),
    ])
  const panels = typeof board === "object" && board !== null && "panels" in board ? board.panels : []
  return walk(isPanels(panels) ? panels : [])
}

const variableQuery = (board: unknown, name: string): string => {
  const list =
    typeof board === "object" && board !== null && "templating" in board && typeof board.templating === "object"
      ? board.templating
      : null
  const variables = list !== null && "list" in list && Array.isArray(list.list) ? list.list : []
  for (const variable of variables) {
    if (typeof variable === "object" && variable !== null && variable.name === name) {
      const query = variable.query
      return typeof query === "string" ? query : typeof query?.query === "string" ? query.query : ""
    }
  }
  return ""
}
