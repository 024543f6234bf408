import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { defaultReleaseRule, shouldRelease } from "../src/HeapRelease.ts"

const MiB = 2 ** 20

describe("when the heap is given back (shouldRelease)", () => {
  const settled = 200 * MiB
  it.each([
    { why: "grown by a quarter and 32 MiB, idle", resident: 250 * MiB, utilization: 0.05, release: true },
    {
      why: "at the limits exactly",
      resident: 250 * MiB,
      utilization: defaultReleaseRule.maxUtilization,
      release: true,
    },
    { why: "grown by less than a quarter", resident: 249 * MiB, utilization: 0.05, release: false },
    { why: "busy", resident: 600 * MiB, utilization: 0.21, release: false },
    { why: "shrunk", resident: 150 * MiB, utilization: 0, release: false },
  ])("$why: $release", ({ resident, utilization, release }) => {
    expect(shouldRelease({ resident, settled, utilization })).toBe(release)
  })

  it("a small process growing by a quarter but less than 32 MiB is left alone", () => {
    expect(shouldRelease({ resident: 60 * MiB, settled: 40 * MiB, utilization: 0 })).toBe(false)
    expect(shouldRelease({ resident: 72 * MiB, settled: 40 * MiB, utilization: 0 })).toBe(true)
  })
})

/** Runs heapRelease.child.ts in a Node of its own and reads the JSON line it prints. */
const child = (mode: "once" | "loop") =>
  JSON.parse(
    execFileSync(process.execPath, [fileURLToPath(new URL("./heapRelease.child.ts", import.meta.url)), mode], {
      encoding: "utf8",
      timeout: 60_000,
    }),
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

  it("the daemon's loop releases on its own once the burst is over, and says so", () => {
    const { peak, after, logs } = child("loop")
    expect(after).toBeLessThan(peak - 200 * MiB)
    expect(logs.filter((line: string) => line.startsWith("idle heap released: resident "))).toHaveLength(1)
  })
})
