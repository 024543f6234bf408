/**
 * HeapRelease.test.ts's subject, in a process of its own (resident memory is per process):
 * grows the heap by about 300 MiB of short-lived objects, lets them go, and reports what
 * resident memory did. `once`: one release; `loop`: the daemon's loop, ticking every
 * 200 ms, until it logs.
 */
import { Effect, Fiber, Logger, LogLevel } from "effect"
import { exposeGc, releaseHeap, releaseIdleHeap, residentBytes } from "../src/HeapRelease.ts"

const mode = process.argv[2]
const logs: Array<string> = []
const logger = Logger.make(({ message, logLevel }) => void logs.push(`${logLevel.label}: ${String(message)}`))

const burst = () => {
  // Small objects, as a pass makes them (large ones live in pages of their own, unmapped
  // as soon as they are collected), kept long enough to reach the old space.
  let keep: Array<{ readonly id: number; readonly name: string }> | undefined = []
  for (let i = 0; i < 3_000_000; i++) keep.push({ id: i, name: `user ${i}` })
  const peak = residentBytes()
  keep = undefined
  return peak
}

const program = Effect.gen(function* () {
  if (mode === "once") {
    const peak = burst()
    const gc = exposeGc()
    const released = gc === undefined ? undefined : releaseHeap(gc)
    return { peak, released, globalGc: typeof (globalThis as { gc?: unknown }).gc }
  }
  const loop = yield* Effect.fork(releaseIdleHeap("200 millis"))
  yield* Effect.sleep("300 millis")
  const peak = burst()
  // The loop's next ticks: one busy with the burst, then an idle one that releases (10 s at most).
  for (let waited = 0; logs.length === 0 && waited < 10_000; waited += 100) yield* Effect.sleep("100 millis")
  yield* Fiber.interrupt(loop)
  return { peak, after: residentBytes(), logs }
})

const result = await Effect.runPromise(
  program.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
    Logger.withMinimumLogLevel(LogLevel.Debug),
  ),
)
process.stdout.write(`${JSON.stringify(result)}\n`)
