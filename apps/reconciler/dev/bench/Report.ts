/**
 * Regenerates the tables of docs/benchmarks.md from bench/results/*.json: the text between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is replaced, everything else (what the
 * numbers say) is written by hand. Run alone: node dev/bench/Report.ts
 */

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { repoRoot } from "./Harness.ts"

type Json = { readonly [key: string]: unknown }

const isJson = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)
/** A field of a result, by path; results are our own JSON, read loosely. */
const at = (value: unknown, ...path: ReadonlyArray<string | number>): unknown =>
  path.reduce<unknown>((v, key) => (Array.isArray(v) ? v[Number(key)] : isJson(v) ? v[key] : undefined), value)
const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined
const list = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

const ms = (value: unknown) => {
  const n = num(value)
  return n === undefined ? "–" : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(0)} ms`
}
const int = (value: unknown) => {
  const n = num(value)
  return n === undefined ? "–" : Math.round(n).toLocaleString("en")
}
const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n")

const results = (): ReadonlyMap<string, Json> => {
  const dir = `${repoRoot}bench/results`
  const out = new Map<string, Json>()
  if (!existsSync(dir)) return out
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const parsed: unknown = JSON.parse(readFileSync(`${dir}/${file}`, "utf8"))
    if (isJson(parsed) && typeof parsed.scenario === "string") out.set(parsed.scenario, parsed)
  }
  return out
}

const machineLine = (result: Json | undefined) => {
  if (result === undefined) return "not run yet"
  const m = at(result, "machine")
  const load = list(at(m, "loadAverage")).map(String)
  return `${String(at(result, "date")).slice(0, 10)}${at(result, "quick") === true ? " (--quick)" : ""}: ${String(at(m, "cpus"))} × ${String(at(m, "cpuModel"))}, ${String(at(m, "memoryGiB"))} GiB; Node ${String(at(m, "node"))}; ${String(at(m, "synapse"))}; PostgreSQL ${String(at(m, "postgres"))}; load average ${load.slice(0, 3).join(" / ")} before, ${load.slice(3).join(" / ")} after (shared machine); code ${typeof at(m, "commit") === "string" ? String(at(m, "commit")) : "not recorded (measured before the merge of main)"}`
}

const requests = (step: unknown) =>
  `${int(at(step, "requests", "total"))} (${int(at(step, "requests", "reads"))} reads, ${int(at(step, "requests", "writes"))} writes)`

const kib = (value: unknown) => {
  const n = num(value)
  return n === undefined ? "–" : `${n.toFixed(1)} KiB`
}

/**
 * A pass in a process of its own (the old space limited, or as Node sizes it): its resync,
 * its resident peak and what is resident once the heap is given back, or why it failed.
 */
const passProcessCell = (run: unknown) => {
  if (run === undefined) return "–"
  const limit =
    num(at(run, "heapLimitMiB")) === undefined ? "as Node sizes it" : `≤ ${int(at(run, "heapLimitMiB"))} MiB`
  const failed = str(at(run, "failed"))
  if (failed !== undefined) return `${limit}: failed (${failed})`
  const released = num(at(run, "releasedMiB"))
  const standIn = num(at(run, "standInMiB"))
  return `${limit}: ${ms(at(run, "resync", "ms"))}, RSS peak ${int(at(run, "peakMiB"))} MiB${released === undefined ? "" : `, given back ${int(released)} MiB${standIn === undefined ? "" : ` (${int(standIn)} MiB the stand-in's)`}`}`
}

const planner = (r: Json | undefined) => {
  const rows = list(at(r, "data", "rows"))
  const perRoom = (row: unknown, field: string) => {
    const rooms = num(at(row, "rooms"))
    const t = num(at(row, field, "ms"))
    return rooms === undefined || t === undefined ? "–" : `${((t * 1000) / rooms).toFixed(0)} µs`
  }
  const gc = (row: unknown, field: string) => {
    const t = num(at(row, field, "ms"))
    const g = num(at(row, field, "gcMs"))
    return t === undefined || g === undefined || t === 0 ? "–" : `${((100 * g) / t).toFixed(0)}%`
  }
  return table(
    [
      "rooms",
      "attendee rows",
      "desired state (5 queries)",
      "per room",
      "planner alone",
      "per room",
      "converged resync (desired + plan, warm cache)",
      "per room",
      "GC in resync",
      "Matrix requests",
      "actions",
      "heap per room: warm cache / pass peak",
      "resync in a process of its own (old space ≤ limit; heap as Node sizes it)",
    ],
    rows.map((row) => [
      int(at(row, "rooms")),
      int(at(row, "attendeeRows")),
      `${ms(at(row, "desired", "ms"))} (CPU ${ms(at(row, "desired", "cpuMs"))})`,
      perRoom(row, "desired"),
      ms(at(row, "planner", "ms")),
      perRoom(row, "planner"),
      `${ms(at(row, "resync", "ms"))} (CPU ${ms(at(row, "resync", "cpuMs"))})`,
      perRoom(row, "resync"),
      gc(row, "resync"),
      int(at(row, "resyncRequests")),
      int(at(row, "resyncActions")),
      `${kib(at(row, "cacheKiBPerRoom"))} / ${kib(at(row, "passKiBPerRoom"))}`,
      [at(row, "limited"), at(row, "ownProcess")]
        .filter((run) => run !== undefined)
        .map(passProcessCell)
        .join("; ") || "–",
    ]),
  )
}

const economy = (r: Json | undefined) => {
  const rows = list(at(r, "data", "rows"))
  const steps: ReadonlyArray<readonly [string, (row: unknown) => readonly [string, string]]> = [
    [
      "first plan (all missing; nobody answers the homeserver's alias queries)",
      (row) => [requests(at(row, "firstPlan")), ms(at(row, "firstPlan", "timing", "ms"))],
    ],
    [
      "first reconcile (apply)",
      (row) => [requests(at(row, "firstReconcile")), ms(at(row, "firstReconcile", "timing", "ms"))],
    ],
    [
      "converged CLI plan, no daemon running",
      (row) => [requests(at(row, "cliPlanCold")), ms(at(row, "cliPlanCold", "timing", "ms"))],
    ],
    [
      "converged CLI plan while a leader runs (its persisted states)",
      (row) => [requests(at(row, "cliPlanWarm")), ms(at(row, "cliPlanWarm", "timing", "ms"))],
    ],
    [
      "the leader's own dry run (GET /plan, without HTTP)",
      (row) => [requests(at(row, "daemonPlan")), ms(at(row, "daemonPlan", "timing", "ms"))],
    ],
    [
      "converged daemon resync (median of 3)",
      (row) => [requests(at(row, "daemonResync")), ms(at(row, "daemonResync", "ms"))],
    ],
    [
      "a leader's first resync, nothing persisted",
      (row) => [requests(at(row, "leaderColdStart")), ms(at(row, "leaderColdStart", "ms"))],
    ],
    [
      "a new leader's first resync, from persisted states",
      (row) => [requests(at(row, "leaderWarmStart")), ms(at(row, "leaderWarmStart", "ms"))],
    ],
    [
      "1% drift through a daemon resync (rooms drifted: invites expected)",
      (row) => [`${requests(at(row, "drift"))}; ${int(at(row, "drift", "rooms"))} drifted`, ms(at(row, "drift", "ms"))],
    ],
    [
      "baseline: per-user, per-room check as matrix-corporal does it (converged)",
      (row) => [
        `${int(at(row, "corporalConverged", "requests"))} (all reads)`,
        ms(at(row, "corporalConverged", "timing", "ms")),
      ],
    ],
  ]
  const head = ["step", ...rows.flatMap((row) => [`requests, ${int(at(row, "rooms"))} rooms`, "time"])]
  const body = steps.map(([name, cell]) => [name, ...rows.flatMap((row) => cell(row))])
  const bulkHead = [
    "how to read every joined room's state",
    ...rows.flatMap((row) => [`${int(at(row, "bulk", "joinedRooms"))} joined rooms`, "time"]),
  ]
  const bulk: ReadonlyArray<readonly [string, (row: unknown) => readonly [string, string]]> = [
    [
      "one `GET /rooms/{id}/state` per room, 8 at a time",
      (row) => [
        `${int(at(row, "bulk", "perRoom", "requests"))} requests, ${int(at(row, "bulk", "perRoom", "bytes"))} bytes`,
        ms(at(row, "bulk", "perRoom", "timing", "ms")),
      ],
    ],
    [
      "`GET /initialSync?limit=0` (legacy, all joined rooms with full state)",
      (row) => [
        `1 request (HTTP ${int(at(row, "bulk", "initialSync", "status"))}), ${int(at(row, "bulk", "initialSync", "bytes"))} bytes`,
        ms(at(row, "bulk", "initialSync", "timing", "ms")),
      ],
    ],
    [
      "`GET /sync` as the appservice's bot",
      (row) => [`HTTP ${int(at(row, "bulk", "syncAsBot", "status"))}: no sync for the bot`, "–"],
    ],
    [
      "the leader's persisted states (one query)",
      (row) => [
        `${int(at(row, "bulk", "persistedStates", "rows"))} rows`,
        ms(at(row, "bulk", "persistedStates", "timing", "ms")),
      ],
    ],
  ]
  return `${table(head, body)}\n\n${table(
    bulkHead,
    bulk.map(([name, cell]) => [name, ...rows.flatMap((row) => cell(row))]),
  )}`
}

const apply = (r: Json | undefined) =>
  `${table(
    ["round", "invites", "reconciler (applyPlan)", "hand-written loop", "reconciler writes", "loop failures"],
    list(at(r, "data", "rounds")).map((round, i) => [
      `${i + 1} (${String(at(round, "first"))} first)`,
      int(at(round, "actions")),
      ms(at(round, "reconciler", "ms")),
      ms(at(round, "loop", "ms")),
      int(at(round, "reconcilerWrites")),
      int(at(round, "loopFailed")),
    ]),
  )}\n\nReconciler throughput ÷ loop throughput: **${num(at(r, "data", "ratio"))?.toFixed(3) ?? "–"}** (${int(at(r, "data", "rooms"))} rooms, ${int(at(r, "data", "invitesPerRoom"))} invites each per round).`

const convergence = (r: Json | undefined) =>
  `${table(
    ["trigger", "changes (arrived)", "p50", "p99", "max"],
    list(at(r, "data", "modes")).map((mode) => [
      String(at(mode, "mode")),
      `${int(at(mode, "changes"))} (${int(at(mode, "arrived"))})`,
      ms(at(mode, "p50Ms")),
      ms(at(mode, "p99Ms")),
      ms(at(mode, "maxMs")),
    ]),
  )}\n\n${int(at(r, "data", "rooms"))} rooms managed; changes at ${int(at(r, "data", "perSecond"))}/s, each a new confirmed attendee in a room of its own; latency from the commit to the invite's \`origin_server_ts\`.`

/** The planner row nearest 10,000 rooms. */
const plannerNear10k = (all: ReadonlyMap<string, Json>) =>
  list(at(all.get("planner"), "data", "rows")).reduce<unknown>((best, row) => {
    const d = Math.abs((num(at(row, "rooms")) ?? 0) - 10_000)
    return best === undefined || d < Math.abs((num(at(best, "rooms")) ?? 0) - 10_000) ? row : best
  }, undefined)

/**
 * The idle RSS at 10,000 rooms, extrapolated from what a daemon keeps per room beyond the
 * largest size the footprint scenario measured: the heap a warm state cache keeps per room
 * (an idle daemon gives back what its passes grew, RELEASE_IDLE_HEAP). Its peak during a
 * pass, for a memory limit, adds what a full pass commits per room. Beside them, measured
 * rather than extrapolated, a full pass at the planner's size nearest 10,000 in a process of
 * its own (LimitedPass.ts): as Node sizes the heap, then given back, and with the old space limited.
 */
const memoryModel = (all: ReadonlyMap<string, Json>) => {
  const largest = list(at(all.get("footprint"), "data", "measured")).at(-1)
  const rooms = num(at(largest, "rooms"))
  const rss = num(at(largest, "rssMiB"))
  const peak = num(at(largest, "peakMiB"))
  const nearest = plannerNear10k(all)
  const cacheKiB = num(at(nearest, "cacheKiBPerRoom"))
  const passKiB = num(at(nearest, "passKiBPerRoom"))
  if (rooms === undefined || rss === undefined || cacheKiB === undefined || passKiB === undefined) return undefined
  const run = (pass: unknown) =>
    num(at(pass, "peakMiB")) === undefined
      ? undefined
      : {
          heapLimitMiB: num(at(pass, "heapLimitMiB")),
          peakMiB: num(at(pass, "peakMiB")) ?? 0,
          releasedMiB: num(at(pass, "releasedMiB")),
          standInMiB: num(at(pass, "standInMiB")) ?? 0,
          releasePauseMs: num(at(pass, "releasePauseMs")),
          resyncMs: num(at(pass, "resync", "ms")),
          rooms: num(at(pass, "rooms")) ?? 0,
          cachedRooms: num(at(pass, "cachedRooms")),
        }
  const added = Math.max(0, 10_000 - rooms)
  return {
    rooms,
    rss,
    cacheKiB,
    passKiB,
    atRooms: num(at(nearest, "rooms")) ?? 0,
    rssMiB: rss + (added * cacheKiB) / 1024,
    peakMiB: peak === undefined ? undefined : peak + (added * (cacheKiB + passKiB)) / 1024,
    limited: run(at(nearest, "limited")),
    own: run(at(nearest, "ownProcess")),
    limitedFailed: str(at(nearest, "limited", "failed")),
    limitedMiB: num(at(nearest, "limited", "heapLimitMiB")),
  }
}

/** The footprint table's rows of one run: each size as Node sizes the heap, keeping it, and limited. */
const footprintRows = (r: Json | undefined) => {
  const line = (m: unknown, sizing: string) => [
    int(at(m, "rooms")),
    sizing,
    `${int(at(m, "rssMiB"))} MiB`,
    `${int(at(m, "peakMiB"))} MiB`,
    `${int(at(m, "heapUsedMiB"))} MiB`,
    `${num(at(m, "eventLoopLagP50Ms"))?.toFixed(1) ?? "–"} / ${num(at(m, "eventLoopLagP99Ms"))?.toFixed(1) ?? "–"} / ${num(at(m, "eventLoopLagMaxMs"))?.toFixed(1) ?? "–"} ms`,
    ms(at(m, "convergedAfterMs")),
  ]
  return list(at(r, "data", "measured")).flatMap((m) => {
    const kept = at(m, "kept")
    const limited = at(m, "limited")
    return [
      line(m, "as Node sizes it"),
      ...(kept === undefined ? [] : [line(kept, "as Node sizes it, RELEASE_IDLE_HEAP=false")]),
      ...(limited === undefined ? [] : [line(limited, `old space ≤ ${int(at(limited, "heapLimitMiB"))} MiB`)]),
    ]
  })
}

const footprintColumns = [
  "rooms",
  "heap",
  "RSS idle",
  "RSS peak (VmHWM)",
  "heap used",
  "event-loop lag p50 / p99 / max",
  "ready and converged after",
]

const footprint = (r: Json | undefined, all: ReadonlyMap<string, Json>) => {
  const rows = footprintRows(r)
  const x = at(r, "data", "extrapolated")
  const perRoom = num(at(r, "data", "perRoomMiB"))
  const model = memoryModel(all)
  const measured = (pass: NonNullable<ReturnType<typeof memoryModel>>["own"], how: string) =>
    pass === undefined
      ? ""
      : ` ${how}, a full pass over ${int(pass.rooms)} rooms (${int(pass.cachedRooms)} cached) peaks at ${int(pass.peakMiB)} MiB RSS, its converged resync taking ${ms(pass.resyncMs)}${pass.releasedMiB === undefined ? "" : `; with the heap given back (a ${ms(pass.releasePauseMs)} pause) ${int(pass.releasedMiB)} MiB stay resident, ${int(pass.standInMiB)} MiB of them the stand-in homeserver's serialized rooms, which a daemon does not hold`}.`
  const byModel =
    model === undefined
      ? "Not extrapolated per room (the planner scenario has not measured what a daemon keeps per room)."
      : `Extrapolated, not measured, to 10,000 rooms: an idle daemon gives back the heap its passes grew (RELEASE_IDLE_HEAP, on by default), so what it keeps per room is what a warm state cache keeps, ${model.cacheKiB.toFixed(1)} KiB a room (measured in process at ${int(model.atRooms)} rooms, garbage collected before and after): ${int(model.rss)} MiB at ${int(model.rooms)} rooms plus that for each further room ≈ **${int(model.rssMiB)} MiB** idle. During a full pass it holds more: adding the ${model.passKiB.toFixed(1)} KiB a room a pass commits at its peak to the peak measured gives ≈ ${int(model.peakMiB)} MiB, the figure a memory limit must allow (docs/deploy.md, "Sizing"). Measured in a process of its own (LimitedPass.ts: the pass and the warm cache, no HTTP server or telemetry; the stand-in homeserver's rooms serialized off the heap):${measured(model.own, "as Node sizes the heap")}${
          model.limited === undefined
            ? model.limitedFailed === undefined
              ? ""
              : ` With the old space limited to ${int(model.limitedMiB)} MiB the pass failed: ${model.limitedFailed}.`
            : measured(model.limited, `With the old space limited to ${int(model.limited.heapLimitMiB)} MiB`)
        }`
  const linear =
    x === undefined
      ? ""
      : ` For comparison, a straight line through the two sizes measured as Node sizes the heap gives ${int(at(x, "rssMiB"))} MiB (${perRoom === undefined ? "–" : (perRoom * 1024).toFixed(0)} KiB per room).`
  return `${table(footprintColumns, rows)}

${byModel}${linear}`
}

/** The daemon measured at about 10,000 rooms (`pnpm bench footprint-10k`), when it was. */
const measured10k = (all: ReadonlyMap<string, Json>) => {
  const m = list(at(all.get("footprint-10k"), "data", "measured")).at(-1)
  const rooms = num(at(m, "rooms"))
  const rss = num(at(m, "rssMiB"))
  return rooms === undefined || rss === undefined || rooms < 9_000
    ? undefined
    : { rooms, rss, kept: num(at(m, "kept", "rssMiB")), peak: num(at(m, "peakMiB")) }
}

const footprint10k = (r: Json | undefined) =>
  r === undefined
    ? "Not measured in this run (`pnpm bench footprint-10k`)."
    : `${table(footprintColumns, footprintRows(r))}\n\n${machineLine(r)}`

/**
 * Why a target is missed (or not measured), shown next to it only then: what the
 * measurements say costs the time (hand-written; the figures stay in the tables).
 */
const why = {
  cliPlan:
    "a CLI plan while leaders run reads two requests and the persisted states, then spends Node's CPU on the desired state and the plan of every room, linear in rooms (see the planner table); without a leader it reads every room's state, one request each",
  daemonPlan:
    "`GET /plan` is a full pass over the warm cache: the desired state and the plan of every room in Node, CPU-bound (the planner table's converged resync, whose wall time is well above its CPU time: the 2 cores were shared, see the load average)",
  firstPlan:
    "every missing alias is looked up: Synapse asks the appservice first and, with nobody answering a CLI, waits before saying it is free; lookups run 64 at once, so the time is Synapse's waits, linear in missing rooms. Answering without the lookup is not certain for rooms the bot is not in (OpenMeet's legacy rooms hold aliases of the namespace), so only known answers skip it: records, hints of joined rooms, free aliases a leader persisted",
  resync:
    "the Matrix side is one request (`GET /joined_rooms`) and no write; the time is Node's CPU for the desired state and the plan of every room (the planner table's CPU time), plus the wait for PostgreSQL to aggregate the member rows (about 0.3 s at 10,000 rooms, measured with EXPLAIN ANALYZE), on 2 cores shared with the other work of the load average; it varies from run to run by about a quarter (garbage collection), so it sits at the target rather than safely under it",
  desired:
    "Node is busy, not waiting for PostgreSQL: row parsing, decoding and room building per attendee row (the CPU time in the planner table), and waits for one of 2 cores shared with other work (wall time above CPU time; the load average)",
  linear: "the cost per room grows with size: GC grows faster than the rooms",
  apply:
    "it is at the edge, and the rounds disagree (see the apply table: one round even, the other slower) while the load average changed during the run; what the reconciler does beyond the loop's calls is an audit row per action in PostgreSQL and the room's actions in order",
  convergence:
    "the tail is long while the median is not (see the convergence table): each change is a reconcile of its room (its desired state and the invite) by a daemon sharing 2 cores with Synapse, PostgreSQL and other work under the load average on the table's last line; not analysed further in this run",
  footprint:
    "an idle daemon keeps its baseline (Node, its modules and the telemetry: the RSS of the smallest size in the footprint table) and what the warm state cache holds per room; the heap its passes grew is given back once idle (RELEASE_IDLE_HEAP)",
  footprintUnmeasured:
    "the footprint scenario or the planner scenario's per-room memory has not been measured, so nothing is extrapolated to 10,000 rooms",
  firstPlanUnmeasured: "the economy scenario has not run",
} as const

const targets = (all: ReadonlyMap<string, Json>) => {
  const plannerRows = list(at(all.get("planner"), "data", "rows"))
  const near = (rooms: number) =>
    plannerRows.reduce<unknown>((best, row) => {
      const d = Math.abs((num(at(row, "rooms")) ?? 0) - rooms)
      return best === undefined || d < Math.abs((num(at(best, "rooms")) ?? 0) - rooms) ? row : best
    }, undefined)
  const p10 = near(10_000)
  const econ = list(at(all.get("economy"), "data", "rows")).at(-1)
  const econRooms = num(at(econ, "rooms")) ?? 0
  const scaled = (value: unknown) => {
    const n = num(value)
    return n === undefined || econRooms === 0 ? undefined : (n * 10_000) / econRooms
  }
  const us = (row: unknown) => (num(at(row, "resync", "ms")) ?? 0) / (num(at(row, "rooms")) ?? 1)
  const first = plannerRows[0]
  const last = plannerRows.at(-1)
  const trigger = list(at(all.get("convergence"), "data", "modes")).find((m) => at(m, "mode") === "triggers")
  const row = (target: string, figure: string, met: boolean | undefined, reason: string) => [
    target,
    figure,
    met === true ? "met" : `${met === undefined ? "not measured" : "**missed**"}, because ${reason}`,
  ]
  const warm = scaled(at(econ, "cliPlanWarm", "timing", "ms"))
  // Measured below 2,000 missing rooms (the seeder's drafts have none): scaled linearly to 2,000.
  const missing = num(at(econ, "firstPlan", "missing"))
  const firstPlanMs = num(at(econ, "firstPlan", "timing", "ms"))
  const firstPlanAt2000 =
    missing === undefined || firstPlanMs === undefined || missing === 0 ? undefined : (firstPlanMs * 2000) / missing
  // Desired state per attendee row at the size nearest 250,000 rows, scaled linearly to 250,000.
  const byRows = plannerRows.reduce<unknown>((best, r) => {
    const d = Math.abs((num(at(r, "attendeeRows")) ?? 0) - 250_000)
    return best === undefined || d < Math.abs((num(at(best, "attendeeRows")) ?? 0) - 250_000) ? r : best
  }, undefined)
  const desiredRows = num(at(byRows, "attendeeRows"))
  const desiredMs = num(at(byRows, "desired", "ms"))
  const desiredAt250k =
    desiredRows === undefined || desiredMs === undefined ? undefined : (desiredMs * 250_000) / desiredRows
  const model = memoryModel(all)
  const direct = measured10k(all)
  const rss = direct?.rss ?? model?.rssMiB
  const upper = num(at(all.get("footprint"), "data", "extrapolated", "rssMiB"))
  const extrapolated = `${int(model?.rssMiB)} MiB (extrapolated from the largest size measured and what the warm cache keeps per room; ${int(upper)} MiB as a straight line through the sizes measured)`
  return table(
    ["target", "figure (this run)", ""],
    [
      row(
        "converged `plan` for 10,000 rooms ≤ 10 s",
        `${ms(at(econ, "cliPlanWarm", "timing", "ms"))} for ${int(econRooms)} rooms while a leader runs → ${ms(warm)} at 10,000 (extrapolated linearly); without a daemon ${ms(at(econ, "cliPlanCold", "timing", "ms"))} → ${ms(scaled(at(econ, "cliPlanCold", "timing", "ms")))} (extrapolated)`,
        warm === undefined ? undefined : warm <= 10_000,
        why.cliPlan,
      ),
      row(
        "a daemon's `GET /plan` ≤ 2 s",
        `${ms(at(p10, "resync", "ms"))} for ${int(at(p10, "rooms"))} rooms in process (warm cache); ${ms(at(econ, "daemonPlan", "timing", "ms"))} for ${int(econRooms)} rooms against Synapse`,
        num(at(p10, "resync", "ms")) === undefined ? undefined : (num(at(p10, "resync", "ms")) ?? 0) <= 2000,
        why.daemonPlan,
      ),
      row(
        "first plan over 2,000 missing rooms ≤ 20 s",
        `${ms(firstPlanMs)} for ${int(missing)} missing rooms${missing !== undefined && missing < 2000 ? ` → ${ms(firstPlanAt2000)} at 2,000 (linearly)` : ""}`,
        firstPlanAt2000 === undefined ? undefined : firstPlanAt2000 <= 20_000,
        firstPlanAt2000 === undefined ? why.firstPlanUnmeasured : why.firstPlan,
      ),
      row(
        "converged daemon resync, 10,000 rooms: ≤ 1.5 s, 0 writes, ≤ 2 requests",
        `${ms(at(p10, "resync", "ms"))} and ${int(at(p10, "resyncRequests"))} request(s) for ${int(at(p10, "rooms"))} rooms in process${num(at(p10, "limited", "resync", "ms")) === undefined ? "" : ` (${ms(at(p10, "limited", "resync", "ms"))} with the old space limited to ${int(at(p10, "limited", "heapLimitMiB"))} MiB)`}; ${requests(at(econ, "daemonResync"))} for ${int(econRooms)} rooms against Synapse`,
        num(at(p10, "resync", "ms")) === undefined
          ? undefined
          : (num(at(p10, "resync", "ms")) ?? 0) <= 1500 &&
              (num(at(econ, "daemonResync", "requests", "total")) ?? 0) <= 2 &&
              (num(at(econ, "daemonResync", "requests", "writes")) ?? 0) === 0,
        why.resync,
      ),
      row(
        "desired state, 250,000 attendee rows: ≤ 1.5 s, five queries",
        `${ms(desiredMs)} for ${int(desiredRows)} rows → ${ms(desiredAt250k)} at 250,000 (linearly per row); five queries by construction (DesiredState.ts)`,
        desiredAt250k === undefined ? undefined : desiredAt250k <= 1500,
        why.desired,
      ),
      row(
        "planner and desired state linear from 1k to 50k rooms",
        first === undefined || last === undefined
          ? "–"
          : `${(us(first) * 1000).toFixed(0)} µs a room at ${int(at(first, "rooms"))}, ${(us(last) * 1000).toFixed(0)} µs at ${int(at(last, "rooms"))} (converged resync: desired state and plan)`,
        first === undefined || last === undefined || first === last ? undefined : us(last) <= us(first) * 1.5,
        why.linear,
      ),
      row(
        "apply throughput ≥ 0.9 × a hand-written loop",
        `${num(at(all.get("apply"), "data", "ratio"))?.toFixed(3) ?? "–"} ×`,
        num(at(all.get("apply"), "data", "ratio")) === undefined
          ? undefined
          : (num(at(all.get("apply"), "data", "ratio")) ?? 0) >= 0.9,
        why.apply,
      ),
      row(
        "convergence p99 ≤ 1 s with triggers at 10 changes/s",
        `p99 ${ms(at(trigger, "p99Ms"))}, p50 ${ms(at(trigger, "p50Ms"))}`,
        num(at(trigger, "p99Ms")) === undefined ? undefined : (num(at(trigger, "p99Ms")) ?? 0) <= 1000,
        why.convergence,
      ),
      row(
        "idle daemon at 10,000 rooms ≤ 400 MB RSS",
        direct === undefined
          ? `${extrapolated}${model?.own?.releasedMiB === undefined ? "" : `; a pass over ${int(model.own.rooms)} rooms in a process of its own leaves ${int(model.own.releasedMiB - model.own.standInMiB)} MiB resident once the heap is given back, besides the stand-in homeserver's rooms (measured)`}; peak during a pass ≈ ${int(model?.peakMiB)} MiB`
          : `${int(direct.rss)} MiB measured: a daemon managing ${int(direct.rooms)} rooms in Synapse, idle (${int(direct.kept)} MiB keeping the heap, RELEASE_IDLE_HEAP=false; peak ${int(direct.peak)} MiB); from the smaller sizes, ${extrapolated}`,
        rss === undefined ? undefined : rss * 1.048576 <= 400,
        rss === undefined ? why.footprintUnmeasured : why.footprint,
      ),
    ],
  )
}

export const renderBenchmarks = () => {
  const path = `${repoRoot}docs/benchmarks.md`
  const all = results()
  const sections: Record<string, string> = {
    targets: targets(all),
    planner: `${planner(all.get("planner"))}\n\n${machineLine(all.get("planner"))}`,
    economy: `${economy(all.get("economy"))}\n\n${machineLine(all.get("economy"))}`,
    apply: `${apply(all.get("apply"))}\n\n${machineLine(all.get("apply"))}`,
    convergence: `${convergence(all.get("convergence"))}\n\n${machineLine(all.get("convergence"))}`,
    footprint: `${footprint(all.get("footprint"), all)}\n\n${machineLine(all.get("footprint"))}`,
    "footprint-10k": footprint10k(all.get("footprint-10k")),
  }
  let text = readFileSync(path, "utf8")
  for (const [name, body] of Object.entries(sections)) {
    const pattern = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`)
    if (!pattern.test(text)) throw new Error(`docs/benchmarks.md has no <!-- bench:${name} --> section`)
    text = text.replace(pattern, () => `<!-- bench:${name} -->\n\n${body}\n\n<!-- /bench:${name} -->`)
  }
  writeFileSync(path, text)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) renderBenchmarks()
