/**
 * The chaos and adversarial suite's results: each case writes one row (what it injected,
 * what it measured, whether it held) under `.reliability/` at the repository's root, and
 * scripts/reliability.ts renders docs/reliability.md's table from those rows. Nothing in
 * the table is typed by hand: a case that fails, or does not run, changes it.
 */
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The fault and input classes of docs/reliability.md, in the table's order. */
export const reliabilityClasses = {
  "crash-cli": "Crash points: `apply` SIGKILLed at each step of a room",
  "crash-daemon": "Crash points: `run` SIGKILLed at each step of a room",
  "homeserver-outage": "Homeserver outage: the Synapse process stopped mid-cycle",
  "database-outage": "Database outage: the PostgreSQL process stopped",
  "rate-limits": "Synapse's own rate limits, bot `rate_limited: true`",
  "leader-kills": "Leader SIGKILLed at random under a stream of changes",
  "hostile-appservice": "Hostile appservice requests",
  "hostile-matrix": "Hostile Matrix state (transactions, power levels, huge rooms)",
  "hostile-rows": "Hostile OpenMeet rows",
  "hostile-config": "Broken settings: tenants, registration, policy, regexes",
  "hostile-cli": "Bad command-line arguments",
  "hostile-generated": "Generated input (fast-check, fixed seeds)",
  "least-privilege": "Least privilege: SELECT-only database role",
  leaks: "No secrets or e-mail addresses in any output",
} as const

export type ReliabilityClass = keyof typeof reliabilityClasses

/** The classes in the table's order. */
export const reliabilityClassOrder: ReadonlyArray<ReliabilityClass> = [
  "crash-cli",
  "crash-daemon",
  "homeserver-outage",
  "database-outage",
  "rate-limits",
  "leader-kills",
  "hostile-appservice",
  "hostile-matrix",
  "hostile-rows",
  "hostile-config",
  "hostile-cli",
  "hostile-generated",
  "least-privilege",
  "leaks",
]

/** What one case injected and measured. Counts start at 0; a case sets what it measured. */
export interface ReliabilityMeasure {
  /** Faults (kills, outages, hostile inputs) the case injected. */
  faults: number
  /** Of those, how many the reconciler came through as expected. */
  survived: number
  /** Actions that should have landed and did not, or landed without their audit row. */
  actionsLost: number
  /** Keys with more than one room. */
  roomsDuplicated: number
  /** Kicks or demotions of users OpenMeet entitles. */
  wrongKicks: number
  /** Figures that vary from run to run (durations, request counts): shown, never compared. */
  readonly figures: Record<string, string | number>
}

export interface ReliabilityRow extends Omit<ReliabilityMeasure, "figures"> {
  readonly class: ReliabilityClass
  readonly case: string
  /** The expected result, in words (a clear error, a counted drop, convergence …). */
  readonly expected: string
  readonly passed: boolean
  readonly figures: Record<string, string | number>
}

/** Where the suite's result rows go (one JSON line per case, a file per class). */
export const reliabilityFolder = fileURLToPath(new URL("../../../.reliability/", import.meta.url))

/**
 * Runs one case of the suite and records its row whatever happens: `body` sets what it
 * measured, then asserts; a thrown assertion records the case as failed and fails the test.
 */
export const reliabilityCase = async (
  meta: { readonly class: ReliabilityClass; readonly case: string; readonly expected: string },
  body: (measure: ReliabilityMeasure) => Promise<void>,
): Promise<void> => {
  const measure: ReliabilityMeasure = {
    faults: 0,
    survived: 0,
    actionsLost: 0,
    roomsDuplicated: 0,
    wrongKicks: 0,
    figures: {},
  }
  let passed = false
  try {
    await body(measure)
    passed = true
  } finally {
    const row: ReliabilityRow = { ...meta, ...measure, passed }
    mkdirSync(reliabilityFolder, { recursive: true })
    appendFileSync(join(reliabilityFolder, `${meta.class}.jsonl`), `${JSON.stringify(row)}\n`)
  }
}
