/**
 * The planner scenario's converged resync in a process of its own (`node
 * [--max-old-space-size=<MiB>] LimitedPass.ts <tenant prefix> <events>`), over the tenant
 * the scenario seeded: whether a full pass at that size fits the heap, how long it then
 * takes, the resident memory it leaves (VmRSS, VmHWM), and what is resident once the heap
 * is given back as an idle daemon does (RELEASE_IDLE_HEAP, HeapRelease.ts): the warm
 * cache, the process, and the stand-in homeserver's serialized rooms (reported apart, a
 * daemon has none). Prints one JSON line.
 */

import { NodeRuntime } from "@effect/platform-node"
import { planPass, Store } from "@openmeet-reconciler/engine"
import { makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Logger, LogLevel } from "effect"
import { exposeGc, releaseHeap } from "../../src/HeapRelease.ts"
import { convergedRooms, freshCopiesHomeserver } from "./Converged.ts"
import { memoryOf } from "./DaemonProcess.ts"
import { databaseLayer, median, seededTenant, services, timed } from "./Harness.ts"
import { onlyHomeserver } from "./Planner.ts"

const [prefix, events] = process.argv.slice(2)
if (prefix === undefined || events === undefined) throw new Error("usage: LimitedPass.ts <tenant prefix> <events>")
const s = services()

const program = Effect.gen(function* () {
  const { runtime } = yield* seededTenant(s, prefix, Number(events), { attendeesPerEvent: 50, seed: 5, reuse: true })
  // Only what a daemon keeps stays referenced (the cache, a pass's plans): the desired state
  // the stand-in is made from, and each pass's results, are garbage once used.
  const homeserver = yield* Effect.map((yield* DesiredState).forTenant(runtime.tenant, runtime.policy), (desired) =>
    freshCopiesHomeserver(s.bot, convergedRooms(desired.rooms, s.bot)),
  )
  const cache = makeStateCache({ maxAge: "1 hour" })
  const matrix = cache.wrap(homeserver.matrix)
  const scope = { tenants: [runtime], rooms: [] }
  const pass = planPass(scope, { concurrency: 8 }).pipe(Effect.provide(onlyHomeserver(matrix)))
  const planned = yield* Effect.map(pass, (first) => first.plan.rooms)
  yield* (yield* Store).recordStatus(planned, [runtime.tenant.id])
  const runs = []
  for (let i = 0; i < 3; i++) {
    cache.invalidateJoined()
    runs.push((yield* timed(pass)).timing)
  }
  const memory = memoryOf(process.pid)
  const gc = exposeGc()
  // The cache stays referenced (a daemon keeps it): what is released is the passes' garbage.
  const released = gc === undefined ? undefined : releaseHeap(gc)
  process.stdout.write(
    `${JSON.stringify({
      rooms: planned.length,
      cachedRooms: cache.stats().rooms,
      resync: median(runs),
      rssMiB: memory.rss,
      peakMiB: memory.peak,
      releasedMiB: released === undefined ? undefined : released.afterBytes / 2 ** 20,
      // The stand-in's rooms, resident in this process though no daemon holds them.
      standInMiB: homeserver.storedBytes / 2 ** 20,
      releasePauseMs: released?.pauseMs,
      heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    })}\n`,
  )
})

program.pipe(Effect.provide(databaseLayer(s)), Logger.withMinimumLogLevel(LogLevel.Warning), NodeRuntime.runMain)
