/**
 * The planner scenario's converged resync in a process of its own (`node
 * [--max-old-space-size=<MiB>] LimitedPass.ts <tenant prefix> <events>`), over the tenant
 * the scenario seeded: whether a full pass at that size fits the heap, how long it then
 * takes, the resident memory it leaves (VmRSS, VmHWM), and what is resident once the heap
 * is given back as an idle daemon does (RELEASE_IDLE_HEAP, HeapRelease.ts): the warm
 * cache and the process. Prints one JSON line.
 */

import { deserialize, serialize } from "node:v8"
import { NodeRuntime } from "@effect/platform-node"
import { planPass, Store } from "@openmeet-reconciler/engine"
import { makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Logger, LogLevel } from "effect"
import { exposeGc, releaseHeap } from "../../src/HeapRelease.ts"
import { convergedRooms, inMemoryHomeserver } from "./Converged.ts"
import { memoryOf } from "./DaemonProcess.ts"
import { databaseLayer, median, seededTenant, services, timed } from "./Harness.ts"
import { onlyHomeserver } from "./Planner.ts"

const [prefix, events] = process.argv.slice(2)
if (prefix === undefined || events === undefined) throw new Error("usage: LimitedPass.ts <tenant prefix> <events>")
const s = services()

const program = Effect.gen(function* () {
  const { runtime } = yield* seededTenant(s, prefix, Number(events), { attendeesPerEvent: 50, seed: 5, reuse: true })
  // The stand-in homeserver keeps its rooms serialized, outside the JS heap, and answers a
  // read with a fresh copy, as a response parsed: only the daemon's own data is on the heap.
  const stored = yield* Effect.map((yield* DesiredState).forTenant(runtime.tenant, runtime.policy), (desired) => {
    const state = convergedRooms(desired.rooms, s.bot)
    return {
      byAlias: state.byAlias,
      rooms: new Map([...state.rooms].map(([roomId, room]) => [roomId, serialize(room)] as const)),
    }
  })
  const homeserver = inMemoryHomeserver(s.bot, { byAlias: stored.byAlias, rooms: new Map() })
  const cache = makeStateCache({ maxAge: "1 hour" })
  const matrix = cache.wrap({
    ...homeserver,
    joinedRooms: Effect.sync(() => new Set(stored.rooms.keys())),
    readRoom: (roomId) =>
      Effect.suspend(() => {
        const bytes = stored.rooms.get(roomId)
        return bytes === undefined ? Effect.die(new Error(`no room ${roomId}`)) : Effect.succeed(deserialize(bytes))
      }),
  })
  const scope = { tenants: [runtime], rooms: [] }
  const pass = planPass(scope, { concurrency: 8 }).pipe(Effect.provide(onlyHomeserver(matrix)))
  const first = yield* pass
  yield* (yield* Store).recordStatus(first.plan.rooms, [runtime.tenant.id])
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
      rooms: first.plan.rooms.length,
      cachedRooms: cache.stats().rooms,
      resync: median(runs),
      rssMiB: memory.rss,
      peakMiB: memory.peak,
      releasedMiB: released === undefined ? undefined : released.afterBytes / 2 ** 20,
      releasePauseMs: released?.pauseMs,
    })}\n`,
  )
})

program.pipe(Effect.provide(databaseLayer(s)), Logger.withMinimumLogLevel(LogLevel.Warning), NodeRuntime.runMain)
