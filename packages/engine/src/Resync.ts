import type { RoomPlan, SafetyOptions, TenantPlan } from "@openmeet-reconciler/core"
import { formatRoomKey, pendingActions, Telemetry } from "@openmeet-reconciler/core"
import type { Homeservers } from "@openmeet-reconciler/matrix"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import { Context, Duration, Effect, Layer, Queue, Random, Ref } from "effect"
import { applyPlan } from "./Apply.ts"
import { ControllerConfig } from "./ControllerConfig.ts"
import { DestructiveBudget } from "./DestructiveBudget.ts"
import { noSafety } from "./Pass.ts"
import { gatePlan, planUngated } from "./PlanPass.ts"
import { countActions } from "./Reconcile.ts"
import { RoomStatus } from "./RoomStatus.ts"
import { Store } from "./Store.ts"
import { WorkQueue } from "./WorkQueue.ts"

export interface ResyncService {
  /** One full resync now: plans every room, queues those that need work, cleans up orphans. */
  readonly run: Effect.Effect<void>
  /** Asks for the periodic resync to run now (once, however often asked before it starts). */
  readonly request: Effect.Effect<void>
  /** Whether a full resync has finished since the controller started. */
  readonly firstSyncDone: Effect.Effect<boolean>
}

/**
 * The periodic full resync (RESYNC_INTERVAL, jittered so replicas and restarts do not
 * resync in step). It plans every room: planning a room from
 * fresh state is its reconcile when nothing differs, so only rooms that differ are queued.
 * Orphans have no key: their clean-up is applied here, within the shared budget.
 */
export class Resync extends Context.Tag("@openmeet-reconciler/engine/Resync")<Resync, ResyncService>() {
  static readonly layer = Layer.scoped(
    Resync,
    Effect.gen(function* () {
      const config = yield* ControllerConfig
      const queue = yield* WorkQueue
      const status = yield* RoomStatus
      const budget = yield* DestructiveBudget
      const telemetry = yield* Telemetry
      const context = yield* Effect.context<DesiredState | Homeservers | Store>()
      const firstSync = yield* Ref.make(false)
      const tenantIds = config.tenants.map((r) => r.tenant.id)

      const fullSync = Effect.gen(function* () {
        const started = performance.now()
        // One fresh joined-rooms read per homeserver each resync; room state stays cached.
        config.cache.invalidateJoined()
        const scope = { tenants: config.tenants, rooms: [] }
        const ungated = yield* planUngated(scope, { concurrency: config.concurrency, details: false })
        for (const failure of ungated.failedTenants) {
          yield* Effect.logError(`full resync: tenant ${failure.tenant}: ${failure.message}`)
        }
        // What the plan shows: what is left of the shared budget now; the workers spend it.
        const preview = config.dryRun
          ? undefined
          : {
              ...budget,
              gate: (tenant: TenantPlan, safety: SafetyOptions) =>
                Effect.map(budget.preview(tenant, safety), (gated) => ({
                  ...gated,
                  reservation: { units: 0, window: 0 },
                })),
            }
        const shown = yield* gatePlan(ungated, {
          concurrency: config.concurrency,
          safety: noSafety,
          ...(preview === undefined ? {} : { budget: preview }),
        })
        // A room a worker reconciled meanwhile may have changed since this pass read it: the
        // worker's view is newer, so the pass neither records nor queues it.
        const current = (room: RoomPlan) => {
          const key = formatRoomKey(room.key)
          return !queue.isInProgress(key) && status.finishedAt(key) < started
        }
        const rooms = shown.plan.rooms.filter(current)
        yield* status.forgetOthers(
          shown.completeTenants,
          new Set(shown.plan.rooms.map((room) => formatRoomKey(room.key))),
          queue.isInProgress,
        )
        yield* status.remember(rooms)
        for (const [tenant, count] of shown.pendingHandles) telemetry.pendingHandles(tenant, count)
        const needWork = rooms.filter(
          (room) =>
            room.key.kind !== "orphan" &&
            (pendingActions(room).length > 0 || room.status === "error" || room.status === "blocked"),
        )
        for (const room of needWork) yield* queue.add(formatRoomKey(room.key), "resync")
        const orphanRooms = ungated.plan.rooms.filter((room) => room.key.kind === "orphan")
        const orphans = { ...ungated, plan: { rooms: orphanRooms }, completeTenants: [] }
        if (config.dryRun) yield* countActions(orphans, [], true)
        else {
          yield* Effect.flatMap(Store, (store) =>
            store.recordStatus(
              rooms,
              shown.completeTenants,
              shown.plan.rooms.map((room) => formatRoomKey(room.key)),
            ),
          )
          const options = { concurrency: config.concurrency, safety: noSafety, budget, recordPass: false }
          const gated = yield* gatePlan(orphans, options)
          const applied = yield* applyPlan(gated, options)
          yield* countActions(gated, applied.actions, false)
        }
        yield* Ref.set(firstSync, true)
        telemetry.fullSync((performance.now() - started) / 1000)
        yield* Effect.logInfo(
          `full resync: ${shown.plan.rooms.length} room(s) planned, ${needWork.length} queued, ${orphanRooms.length} orphan(s)`,
        )
      }).pipe(
        Effect.provide(context),
        Effect.catchAllCause((cause) => Effect.logError("full resync failed; it runs again next interval", cause)),
        Effect.withSpan("reconcile.cycle", { attributes: { trigger: "resync" } }),
      )

      // Asks for a full resync before its time (a gap in the change feed); several asks are one.
      const asked = yield* Queue.sliding<void>(1)
      yield* Effect.forkScoped(
        Effect.gen(function* () {
          while (true) {
            yield* fullSync
            const interval = Duration.toMillis(config.resyncInterval)
            yield* Effect.raceFirst(
              Effect.sleep(Duration.millis(interval * (0.9 + 0.2 * (yield* Random.next)))),
              Queue.take(asked),
            )
          }
        }),
      )
      // A replica that no longer leads reports no pending handles: sums over replicas stay true.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const id of tenantIds) telemetry.pendingHandles(id, 0)
        }),
      )
      return {
        run: fullSync,
        request: Queue.offer(asked, undefined).pipe(Effect.asVoid),
        firstSyncDone: Ref.get(firstSync),
      }
    }),
  )
}
