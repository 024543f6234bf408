/**
 * Matrix request economy against Synapse on PostgreSQL: the requests (and time) of a first
 * plan and reconcile, of converged CLI plans (cold, and while a leader keeps its persisted
 * states), of the daemon's converged resync and of 1% drift (writes must equal the
 * drift). The baseline in the same run: a per-user, per-room checker as matrix-corporal
 * does it (one request per room and per member it checks). Also the bulk-read candidates,
 * measured against each other on the converged homeserver.
 */

import { formatRoomKey } from "@openmeet-reconciler/core"
import type { PlanResult, TenantRuntime } from "@openmeet-reconciler/engine"
import {
  planPass,
  reconcileAgain,
  Store,
  startController,
  warmFromLeader,
  withLeaderLock,
} from "@openmeet-reconciler/engine"
import type { StateCache } from "@openmeet-reconciler/matrix"
import { makeStateCache } from "@openmeet-reconciler/matrix"
import { Effect, Redacted, Schema } from "effect"
import type { Requests, Services, Timing } from "./Harness.ts"
import {
  benchSchema,
  homeserversLayer,
  insertAttendee,
  median,
  newAttendees,
  type requestCounter,
  say,
  seededTenant,
  sleep,
  timed,
} from "./Harness.ts"

type Counter = ReturnType<typeof requestCounter>

interface Step {
  readonly timing: Timing
  readonly requests: Requests
}

const measure = <A, E, R>(counter: Counter, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const before = counter.snapshot()
    const { value, timing } = yield* timed(effect)
    return { value, step: { timing, requests: counter.since(before) } satisfies Step }
  })

const actionsOf = (result: PlanResult) => result.plan.rooms.reduce((n, room) => n + room.actions.length, 0)

/** Hand-written requests with the appservice token, `concurrency` at a time: the baselines. */
const fetcher = (s: Services) => {
  const get = async (path: string) => {
    const response = await fetch(new URL(path, s.homeserverUrl), { headers: { authorization: `Bearer ${s.asToken}` } })
    const body = await response.text()
    return { status: response.status, bytes: body.length, body }
  }
  const all = async <A>(items: ReadonlyArray<A>, concurrency: number, run: (item: A) => Promise<unknown>) => {
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let item = items[next++]; item !== undefined; item = items[next++]) await run(item)
      }),
    )
  }
  return { get, all }
}

/** What matrix-corporal's reconciler asks per room: its power levels, and each member it manages, one by one. */
const corporalCheck = (s: Services, result: PlanResult) =>
  Effect.gen(function* () {
    const http = fetcher(s)
    const checks: Array<string> = []
    for (const room of result.plan.rooms) {
      if (room.roomId === undefined) continue
      const path = `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state`
      checks.push(`${path}/m.room.power_levels/`)
      const desired = result.details.get(formatRoomKey(room.key))?.desired
      for (const user of desired?.members.keys() ?? []) checks.push(`${path}/m.room.member/${encodeURIComponent(user)}`)
    }
    const { timing } = yield* timed(Effect.promise(() => http.all(checks, 8, (path) => http.get(path))))
    return { timing, requests: checks.length }
  })

/** The ways to read many rooms' state, measured against each other on the same homeserver. */
const bulkReads = (s: Services) =>
  Effect.gen(function* () {
    const http = fetcher(s)
    const { joined_rooms: rooms } = Schema.decodeUnknownSync(
      Schema.parseJson(Schema.Struct({ joined_rooms: Schema.Array(Schema.String) })),
    )((yield* Effect.promise(() => http.get("/_matrix/client/v3/joined_rooms"))).body)
    let bytes = 0
    const perRoom = yield* timed(
      Effect.promise(() =>
        http.all(rooms, 8, async (roomId) => {
          const got = await http.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`)
          bytes += got.bytes
        }),
      ),
    )
    const initial = yield* timed(Effect.promise(() => http.get("/_matrix/client/v3/initialSync?limit=0")))
    const sync = yield* Effect.promise(() => http.get("/_matrix/client/v3/sync?timeout=0"))
    const persisted = yield* timed(Effect.flatMap(Store, (store) => store.loadStates))
    return {
      joinedRooms: rooms.length,
      perRoom: { timing: perRoom.timing, requests: rooms.length, bytes },
      initialSync: { timing: initial.timing, requests: 1, status: initial.value.status, bytes: initial.value.bytes },
      syncAsBot: { status: sync.status, body: sync.body.slice(0, 200) },
      persistedStates: { timing: persisted.timing, rows: persisted.value.states.length },
    }
  })

export const economyScenario = (s: Services, counter: Counter, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const store = yield* Store
    yield* store.migrate
    const rows = []
    for (const target of sizes) {
      // About 0.9 rooms per event: published events, and published groups (one per five events).
      const { runtime } = yield* seededTenant(s, `econ${target}`, Math.round(target / 0.9))
      const scope = { tenants: [runtime], rooms: [] }
      const cli = homeserversLayer(s)
      yield* say(`economy ${target}: first plan`)
      const first = yield* measure(counter, planPass(scope, { concurrency: 8 }).pipe(Effect.provide(cli)))
      const missing = first.value.plan.rooms.filter((room) => room.status === "missing").length
      yield* say(`economy ${target}: first reconcile of ${missing} missing rooms`)
      const reconcile = yield* measure(
        counter,
        reconcileAgain(first.value, { concurrency: 8 }).pipe(Effect.provide(cli)),
      )
      const applied = reconcile.value.applied.actions.filter((a) => a.outcome.result === "applied").length
      yield* say(`economy ${target}: converged CLI plans`)
      const cold = yield* measure(
        counter,
        planPass(scope, { concurrency: 8 }).pipe(Effect.provide(homeserversLayer(s))),
      )
      const corporal = yield* corporalCheck(s, cold.value)
      const daemon = yield* daemonSteps(s, counter, runtime, cold.value)
      // After the leader persisted this size's states: the candidates read the same rooms.
      const bulk = yield* bulkReads(s)
      rows.push({
        rooms: cold.value.plan.rooms.length,
        roomsInMatrix: cold.value.plan.rooms.filter((room) => room.roomId !== undefined).length,
        firstPlan: { ...first.step, missing },
        firstReconcile: { ...reconcile.step, actionsApplied: applied },
        cliPlanCold: { ...cold.step, actionsLeft: actionsOf(cold.value) },
        corporalConverged: corporal,
        bulk,
        ...daemon,
      })
    }
    return { rows }
  })

const controllerOptions = (runtime: TenantRuntime, cache: StateCache) =>
  ({
    tenants: [runtime],
    concurrency: 8,
    workers: 4,
    batchSize: 50,
    resyncInterval: "1 hour",
    dryRun: false,
    backoff: { base: "1 second", max: "1 minute" },
    cache,
    persistStates: true,
    shutdownGrace: "10 seconds",
    appserviceId: "openmeet-bot",
  }) as const

/** Holds the leader lock of the benchmarks' schema while `effect` runs, as a leader does. */
const asLeader = <A, E, R>(s: Services, tenants: ReadonlyArray<string>, effect: Effect.Effect<A, E, R>) =>
  withLeaderLock({ databaseUrl: Redacted.make(s.databaseUrl), schema: benchSchema, tenants, wait: "1 minute" }, effect)

/**
 * With a leader running (in process, holding the leader lock, persisting its states): its
 * converged resyncs, a CLI plan that starts from the persisted states, the leader's own
 * dry run (`GET /plan` without HTTP), and 1% drift through a resync.
 */
const daemonSteps = (s: Services, counter: Counter, runtime: TenantRuntime, converged: PlanResult) =>
  Effect.gen(function* () {
    const cache = makeStateCache({ maxAge: "1 hour" })
    const scope = { tenants: [runtime], rooms: [] }
    const leading = Effect.scoped(
      Effect.gen(function* () {
        const before = counter.snapshot()
        const started = performance.now()
        const controller = yield* startController(controllerOptions(runtime, cache))
        while (!(yield* controller.firstSyncDone)) yield* sleep(100)
        const coldStart = { ms: performance.now() - started, requests: counter.since(before) }
        const resyncs: Array<Step> = []
        for (let i = 0; i < 3; i++) resyncs.push((yield* measure(counter, controller.fullSync)).step)
        const httpPlan = yield* measure(counter, controller.plan(scope))
        // What the leader keeps is persisted every second.
        yield* sleep(2500)
        const cliCache = makeStateCache({ maxAge: "1 day" })
        const warm = yield* measure(
          counter,
          Effect.zipRight(
            warmFromLeader(
              cliCache,
              scope.tenants.map((r) => r.tenant.id),
            ),
            planPass(scope, { concurrency: 8 }),
          ).pipe(Effect.provide(homeserversLayer(s, cliCache))),
        )
        // 1% drift: a new confirmed attendee in 1% of the event rooms; a resync finds and fixes them.
        const eventRooms = converged.plan.rooms.filter((room) => room.key.kind === "event" && room.roomId !== undefined)
        const drifted = eventRooms.slice(0, Math.max(1, Math.round(converged.plan.rooms.length / 100)))
        const attendees = yield* newAttendees(
          runtime,
          drifted.map((room) => Number(room.key.entityId)),
        )
        for (const row of attendees) yield* insertAttendee(runtime, row)
        const driftBefore = counter.snapshot()
        const driftStart = performance.now()
        yield* controller.fullSync
        let driftRequests = counter.since(driftBefore)
        for (let i = 0; i < 600 && driftRequests.writes < attendees.length; i++) {
          yield* sleep(100)
          driftRequests = counter.since(driftBefore)
        }
        const driftMs = performance.now() - driftStart
        yield* sleep(2000)
        return {
          leaderColdStart: coldStart,
          daemonResync: { ...median(resyncs.map((r) => r.timing)), requests: resyncs.at(-1)?.requests },
          daemonPlan: { ...httpPlan.step, actionsLeft: actionsOf(httpPlan.value) },
          cliPlanWarm: { ...warm.step, actionsLeft: actionsOf(warm.value) },
          drift: { rooms: attendees.length, ms: driftMs, requests: counter.since(driftBefore) },
        }
      }).pipe(Effect.provide(homeserversLayer(s, cache))),
    )
    const daemon = yield* asLeader(s, [runtime.tenant.id], leading)
    // A new leader's first resync from the persisted states.
    const next = makeStateCache({ maxAge: "1 hour" })
    const warmStart = yield* asLeader(
      s,
      [runtime.tenant.id],
      Effect.scoped(
        Effect.gen(function* () {
          const before = counter.snapshot()
          const started = performance.now()
          const controller = yield* startController(controllerOptions(runtime, next))
          while (!(yield* controller.firstSyncDone)) yield* sleep(50)
          return { ms: performance.now() - started, requests: counter.since(before) }
        }),
      ).pipe(Effect.provide(homeserversLayer(s, next))),
    )
    return { ...daemon, leaderWarmStart: warmStart }
  })
