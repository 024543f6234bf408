import type { RoomKey } from "@openmeet-reconciler/core"
import { formatRoomKey, parseRoomKey, pendingActions, Telemetry } from "@openmeet-reconciler/core"
import type { Homeservers } from "@openmeet-reconciler/matrix"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Either, FiberSet, Layer, Ref } from "effect"
import { AliasQueries } from "./AliasQueries.ts"
import { applyPlan } from "./Apply.ts"
import { ControllerConfig } from "./ControllerConfig.ts"
import { DestructiveBudget } from "./DestructiveBudget.ts"
import type { PassOptions, Scope } from "./Pass.ts"
import { mergePlans, noSafety } from "./Pass.ts"
import { gatePlan, planUngated } from "./PlanPass.ts"
import { countActions } from "./Reconcile.ts"
import { kindOfKey, RoomStatus } from "./RoomStatus.ts"
import type { Store } from "./Store.ts"
import { WorkQueue } from "./WorkQueue.ts"

/**
 * The workers: each takes a batch of keys from the queue and reconciles them together,
 * level-triggered (desired and actual state read fresh, through the state cache), with the
 * same plan and apply as the CLI, spending the tenant's shared destructive budget. Failed
 * keys come back with backoff; keys whose plan no longer held are queued again at once.
 * Stopping waits up to `shutdownGrace` for rooms in progress, unless the lock is lost.
 */
const make = Effect.gen(function* () {
  const config = yield* ControllerConfig
  const queue = yield* WorkQueue
  const status = yield* RoomStatus
  const aliasQueries = yield* AliasQueries
  const budget = yield* DestructiveBudget
  const telemetry = yield* Telemetry
  const context = yield* Effect.context<DesiredState | Homeservers | Store>()
  // The workers share RECONCILE_CONCURRENCY: at most that many rooms are read or written at once.
  const perBatch = Math.max(1, Math.floor(config.concurrency / config.workers))
  const tenants = new Set(config.tenants.map((r) => r.tenant.id))
  const stopping = yield* Ref.make(false)

  /**
   * Plans from the state cache, then reads again, bypassing it, the rooms that have writes
   * planned: a transaction still on its way must not make a write from old state (a
   * power-levels write carries the whole event). Gated once, on the fresh plan.
   */
  const planFresh = (scope: Scope, options: PassOptions) =>
    Effect.gen(function* () {
      const first = yield* planUngated(scope, options)
      const writes = first.plan.rooms.filter(
        (room) => !config.dryRun && room.roomId !== undefined && room.actions.length > 0,
      )
      if (writes.length === 0) return yield* gatePlan(first, options)
      for (const room of writes) if (room.roomId !== undefined) config.cache.invalidateRoom(room.roomId)
      const fresh = yield* planUngated({ tenants: scope.tenants, rooms: writes.map((room) => room.key) }, options)
      return yield* gatePlan(mergePlans(first, fresh), options)
    })

  /** Reconciles one batch of keys; returns the keys to retry. */
  const reconcileBatch = (texts: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const started = performance.now()
      const keys = texts.flatMap((text): Array<RoomKey> => {
        const parsed = parseRoomKey(text)
        return Either.isRight(parsed) && tenants.has(parsed.right.tenant) ? [parsed.right] : []
      })
      const scope = { tenants: config.tenants.filter((r) => keys.some((k) => k.tenant === r.tenant.id)), rooms: keys }
      const options = {
        concurrency: perBatch,
        safety: noSafety,
        recordPass: false,
        ...(config.dryRun ? {} : { budget }),
      }
      const result = yield* planFresh(scope, options)
      for (const failure of result.failedTenants) {
        yield* Effect.logError(`tenant ${failure.tenant}: ${failure.message}; its rooms are retried`)
      }
      const failedTenants = new Set(result.failedTenants.map((f) => f.tenant))
      let rooms = result.plan.rooms
      const failedKeys = new Set<string>()
      if (config.dryRun) {
        yield* countActions(result, [], true)
        for (const room of rooms.filter((r) => pendingActions(r).length > 0)) {
          yield* Effect.logInfo(
            `dry run: ${formatRoomKey(room.key)} has ${pendingActions(room).length} pending action(s)`,
          ).pipe(Effect.annotateLogs({ "room.key": formatRoomKey(room.key) }))
        }
      } else {
        const applied = yield* applyPlan(result, options)
        rooms = applied.rooms
        yield* countActions(result, applied.actions, false)
        for (const { key, outcome } of applied.actions) {
          if (outcome.result === "failed" || outcome.result === "not_attempted") failedKeys.add(formatRoomKey(key))
        }
        // Still in progress: the queue hands each out again as soon as this batch is done.
        for (const key of applied.requeue) yield* queue.add(formatRoomKey(key), "change")
      }
      yield* status.remember(rooms)
      const seconds = (performance.now() - started) / 1000
      const byKey = new Map(rooms.map((room) => [formatRoomKey(room.key), room]))
      const retry: Array<string> = []
      for (const text of texts) {
        const room = byKey.get(text)
        const tenant = Either.match(parseRoomKey(text), { onLeft: () => "", onRight: (key) => key.tenant })
        const failed = failedTenants.has(tenant) || failedKeys.has(text) || room?.status === "error"
        telemetry.reconciled(
          kindOfKey(text),
          failed ? "error" : room?.status === "blocked" ? "blocked" : "success",
          seconds,
        )
        if (failed) retry.push(text)
        yield* aliasQueries.settle(text, room?.roomId !== undefined && room.status !== "missing")
      }
      return retry
    }).pipe(
      Effect.provide(context),
      Effect.withSpan("reconcile.cycle", { attributes: { "reconcile.keys": texts.length, trigger: "queue" } }),
    )

  const worker = Effect.gen(function* () {
    while (!(yield* Ref.get(stopping))) {
      const batch = yield* queue.takeBatch(config.batchSize)
      if (yield* Ref.get(stopping)) {
        for (const key of batch) yield* queue.done(key)
        return
      }
      const retry = yield* reconcileBatch(batch).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logError("reconcile failed; the rooms are retried", cause).pipe(Effect.as(batch)),
        ),
      )
      const failed = new Set(retry)
      const now = performance.now()
      for (const key of batch) {
        status.finished(key, now)
        if (failed.has(key)) yield* queue.retry(key)
        else {
          yield* queue.forget(key)
          yield* queue.done(key)
        }
      }
    }
  })

  const fibers = yield* FiberSet.make()
  for (let i = 0; i < config.workers; i++) yield* FiberSet.run(fibers, worker)
  // Added after the workers' set, so it runs first when the scope closes: before they are interrupted.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      yield* Ref.set(stopping, true)
      // Rooms in progress get the grace period to finish; then they are abandoned.
      const idle = Effect.gen(function* () {
        while ((yield* queue.inProgress) > 0) yield* Effect.sleep("50 millis")
      })
      if (config.abandonNow?.() !== true) yield* idle.pipe(Effect.timeout(config.shutdownGrace), Effect.ignore)
      const left = yield* queue.inProgress
      if (left > 0) yield* Effect.logWarning(`shutdown: abandoning ${left} room(s) in progress`)
    }),
  )
})

export const WorkersLive = Layer.scopedDiscard(make)
