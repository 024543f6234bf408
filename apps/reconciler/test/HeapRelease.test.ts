import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { defaultReleaseRule, shouldRelease } from "../src/HeapRelease.ts"

const MiB = 2 ** 20

describe("when the heap is given back (shouldRelease)", () => {
  const settled = 200 * MiB
  const idle = { resident: 300 * MiB, settled, utilization: 0.05, sinceReleaseMs: 60_000 }
  it.each([
    { why: "grown by 32 MiB or more, idle, no release for 30 s", change: {}, release: true },
    {
      why: "at the limits exactly",
      change: { resident: settled + 32 * MiB, utilization: 0.5, sinceReleaseMs: 30_000 },
      release: true,
    },
    { why: "grown by less than 32 MiB", change: { resident: settled + 32 * MiB - 1 }, release: false },
    { why: "shrunk", change: { resident: 150 * MiB }, release: false },
    // A daemon at 10,000 rooms keeps its cache fresh (a few room reads a second, persisted):
    // its loop is busy about a quarter of the time, and still ought to give the heap back.
    { why: "keeping its cache fresh", change: { utilization: 0.3 }, release: true },
    { why: "busy (a pass)", change: { utilization: 0.51 }, release: false },
    { why: "released less than 30 s ago", change: { sinceReleaseMs: 29_999 }, release: false },
  ])("$why: $release", ({ change, release }) => {
    expect(shouldRelease({ ...idle, ...change })).toBe(release)
  })

  it("the first release waits for nothing but growth and idleness", () => {
    expect(shouldRelease({ ...idle, sinceReleaseMs: Number.POSITIVE_INFINITY })).toBe(true)
    expect(defaultReleaseRule).toEqual({ minBytes: 32 * MiB, maxUtilization: 0.5, minIntervalMs: 30_000 })
  })
})

/**
 * Runs heapRelease.child.ts in a Node of its own and reads the JSON line it prints. V8's
 * memory reducer is off there: in a process doing nothing else it sometimes shrinks the
 * heap by itself (in a daemon, whose timers keep allocating, it does not), and the loop
 * would then rightly have nothing to release.
 */
const child = (mode: "once" | "loop") =>
  JSON.parse(
    execFileSync(
      process.execPath,
      ["--no-memory-reducer", fileURLToPath(new URL("./heapRelease.child.ts", import.meta.url)), mode],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    ),
  )

// A Node of its own starts in about a second, more on a loaded machine.
describe("giving the heap back (a Node process of its own)", { timeout: 60_000 }, () => {
  it("one release returns the pages a burst committed, without --expose-gc and without leaving gc() global", () => {
    const { peak, released, globalGc } = child("once")
    expect(peak).toBeGreaterThan(300 * MiB)
    expect(released.beforeBytes).toBeGreaterThan(300 * MiB)
    // The garbage was collected and its pages released: resident memory falls by most of the burst.
    expect(released.afterBytes).toBeLessThan(released.beforeBytes - 200 * MiB)
    expect(globalGc).toBe("undefined")
  })

  it("the daemon's loop releases on its own once the burst is over, and says so at INFO", () => {
    const { peak, after, logs } = child("loop")
    expect(after).toBeLessThan(peak - 200 * MiB)
    expect(logs.filter((line: string) => line.startsWith("INFO: idle heap released: resident "))).toHaveLength(1)
  })
})
