import type { RoomKey, SafetyOptions, TenantPlan } from "@openmeet-reconciler/core"
import { formatRoomKey } from "@openmeet-reconciler/core"
import type { Homeservers, RoomEvent } from "@openmeet-reconciler/matrix"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import type { Scope as EffectScope, Redacted } from "effect"
import { Context, Effect, Layer } from "effect"
import { AliasQueries } from "./AliasQueries.ts"
import { CacheRefreshLive } from "./CacheRefresh.ts"
import type { ControllerOptions } from "./ControllerConfig.ts"
import { ControllerConfig } from "./ControllerConfig.ts"
import { DestructiveBudget } from "./DestructiveBudget.ts"
import type { PlanResult, Scope } from "./Pass.ts"
import { noSafety } from "./Pass.ts"
import { PersistedCacheLive } from "./PersistedCache.ts"
import { gatePlan, planUngated } from "./PlanPass.ts"
import { RelayLive } from "./Relay.ts"
import { Resync } from "./Resync.ts"
import { RoomStatus } from "./RoomStatus.ts"
import type { StoreError } from "./Store.ts"
import { Store } from "./Store.ts"
import { WorkersLive } from "./Workers.ts"
import type { AddSource } from "./WorkQueue.ts"
import { WorkQueue } from "./WorkQueue.ts"

/** What the daemon's other parts (the change feed, the appservice API) see of the controller while it leads. */
export interface ControllerService {
  /** Queues rooms to reconcile (database changes, CLI/HTTP requests). */
  readonly enqueue: (keys: ReadonlyArray<RoomKey>, source: AddSource) => Effect.Effect<void>
  /**
   * Events of an appservice transaction: the state cache drops what they change; rooms
   * others changed are queued. (The daemon invalidates their persisted states first.)
   */
  readonly onMatrixEvents: (events: ReadonlyArray<RoomEvent>) => Effect.Effect<void>
  /** An alias query (from the homeserver whose hs_token is `origin`): reconciles the alias's room now; true when it exists afterwards. */
  readonly onAliasQuery: (alias: string, origin?: Redacted.Redacted<string>) => Effect.Effect<boolean>
  /** Plans every room of every tenant now and queues those that need work; applies orphan clean-up. */
  readonly fullSync: Effect.Effect<void>
  /** Runs the periodic full resync now (once, however often asked before it starts). */
  readonly requestResync: Effect.Effect<void>
  /**
   * The plan for a scope as a dry run shows it, from the warm state cache; changes nothing.
   * Destructive actions beyond what is left of the shared budget show as held.
   */
  readonly plan: (scope: Scope) => Effect.Effect<PlanResult, StoreError>
  readonly firstSyncDone: Effect.Effect<boolean>
  /** Whether a room belongs to this controller's tenants, as far as its records and plans tell. */
  readonly owns: (roomId: string) => boolean
}

export class Controller extends Context.Tag("@openmeet-reconciler/engine/Controller")<
  Controller,
  ControllerService
>() {}

/**
 * Audit rows a dead process left `started` (it was killed between a request and its
 * answer) are closed as `interrupted` by the new holder of these tenants' leader locks,
 * their only writer now.
 */
export const closeInterrupted = (tenants: ReadonlyArray<string>) =>
  Effect.flatMap(Store, (store) => store.closeInterrupted(tenants)).pipe(
    Effect.tap((closed) =>
      closed > 0
        ? Effect.logInfo(`${closed} audit row(s) left open by a process that ended mid-request: marked interrupted`)
        : Effect.void,
    ),
    Effect.catchAll((error) => Effect.logWarning(`closing interrupted audit rows failed: ${error.message}`)),
    Effect.asVoid,
  )

const make = Effect.gen(function* () {
  const config = yield* ControllerConfig
  const queue = yield* WorkQueue
  const status = yield* RoomStatus
  const aliasQueries = yield* AliasQueries
  const resync = yield* Resync
  const budget = yield* DestructiveBudget
  const context = yield* Effect.context<DesiredState | Homeservers | Store>()
  const botUsers = new Set(config.tenants.map((r) => r.botUserId))
  const store = yield* Store

  // Where each recorded room belongs, so the first transactions already find their keys.
  const records = yield* store
    .roomRecords(config.tenants.map((r) => r.tenant.id))
    .pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`reading room records failed: ${error.message}`).pipe(Effect.as(new Map())),
      ),
    )
  status.learn(records.values())
  if (!config.dryRun) yield* closeInterrupted(config.tenants.map((r) => r.tenant.id))

  const onMatrixEvents = (events: ReadonlyArray<RoomEvent>) =>
    Effect.gen(function* () {
      config.cache.onEvents(events)
      for (const event of events) {
        // The reconciler's own writes come back as events too: they need no reconcile.
        const own = event.sender !== undefined && (botUsers.has(event.sender) || config.cache.isBot(event.sender))
        if (event.state_key === undefined || own) continue
        const key = status.keyOfRoom(event.room_id)
        if (key !== undefined) yield* queue.add(key, "change")
      }
    })

  const preview = (tenant: TenantPlan, safety: SafetyOptions) =>
    Effect.map(budget.preview(tenant, safety), (gated) => ({ ...gated, reservation: { units: 0, window: 0 } }))

  return Controller.of({
    enqueue: (keys, source) => Effect.forEach(keys, (key) => queue.add(formatRoomKey(key), source), { discard: true }),
    onMatrixEvents,
    onAliasQuery: aliasQueries.query,
    fullSync: resync.run,
    requestResync: resync.request,
    plan: (scope) =>
      planUngated(scope, { concurrency: config.concurrency }).pipe(
        Effect.flatMap((result) =>
          gatePlan(result, {
            concurrency: config.concurrency,
            safety: noSafety,
            // What is left of the budget, reserving nothing: a plan changes nothing.
            ...(config.dryRun ? {} : { budget: { ...budget, gate: preview } }),
          }),
        ),
        Effect.provide(context),
        Effect.withSpan("reconcile.cycle", { attributes: { trigger: "http" } }),
      ),
    firstSyncDone: resync.firstSyncDone,
    owns: (roomId) => status.keyOfRoom(roomId) !== undefined,
  })
})

/** The state the controller's features share: the queue, what is known of rooms, the budget. */
const SharedLive = Layer.unwrapEffect(
  Effect.map(ControllerConfig, (config) =>
    Layer.mergeAll(
      WorkQueue.layer(config.backoff),
      RoomStatus.layer(config.tenants.map((r) => r.tenant.id)),
      DestructiveBudget.layer(config.resyncInterval),
    ),
  ),
)

/**
 * The controller, while this replica leads: a work queue of room keys, the workers, the
 * periodic resync and the alias queries, each a feature layer of its own over shared state.
 */
export const ControllerLive: Layer.Layer<Controller, never, ControllerConfig | DesiredState | Homeservers | Store> =
  Layer.scoped(Controller, make).pipe(
    Layer.provide(
      // The persisted states are loaded before anything reads: a first resync finds them.
      Layer.mergeAll(WorkersLive, Resync.layer, RelayLive, CacheRefreshLive).pipe(
        Layer.provide(PersistedCacheLive),
        Layer.provideMerge(AliasQueries.layer),
        Layer.provideMerge(SharedLive),
      ),
    ),
  )

/** Starts a controller in the current scope (closing it stops the controller) and returns it. */
export const startController = (
  options: ControllerOptions,
): Effect.Effect<ControllerService, never, DesiredState | Homeservers | Store | EffectScope.Scope> =>
  Layer.build(ControllerLive.pipe(Layer.provide(Layer.succeed(ControllerConfig, options)))).pipe(
    Effect.map(Context.get(Controller)),
  )
