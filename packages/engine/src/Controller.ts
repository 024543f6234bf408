import type { RoomKey, RoomPlan, SafetyOptions } from "@openmeet-reconciler/core"
import {
  destructiveUnits,
  formatRoomKey,
  isRecord,
  parseAlias,
  parseRoomKey,
  pendingActions,
} from "@openmeet-reconciler/core"
import type { RoomEvent, StateCache } from "@openmeet-reconciler/matrix"
import { describeMatrixError, Homeservers } from "@openmeet-reconciler/matrix"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { Metrics } from "@openmeet-reconciler/observability"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import type { Scope } from "effect"
import { Deferred, Duration, Effect, Either, Fiber, FiberSet, Option, Queue, Random, Ref } from "effect"
import type { AppliedAction, PlanResult, TenantRuntime } from "./Reconciler.ts"
import { applyPlan, ownHomeserver, planPass } from "./Reconciler.ts"
import { Store } from "./Store.ts"
import type { AddSource, BackoffOptions } from "./WorkQueue.ts"
import { makeWorkQueue } from "./WorkQueue.ts"

export interface ControllerOptions {
  readonly tenants: ReadonlyArray<TenantRuntime>
  /** Rooms read or written at once within a batch. */
  readonly concurrency: number
  /** Batches reconciled at once. */
  readonly workers: number
  /** Keys one worker takes at once: their desired state is a handful of set-based queries. */
  readonly batchSize: number
  readonly resyncInterval: Duration.DurationInput
  /** Plans and reports, never writes to Matrix (DRY_RUN). */
  readonly dryRun: boolean
  readonly backoff: BackoffOptions
  readonly cache: StateCache
  /** How long `run` waits for rooms in progress when it is stopped before abandoning them. */
  readonly shutdownGrace: Duration.DurationInput
  /** True when stopping must not wait for rooms in progress (the leader lock is lost). */
  readonly abandonNow?: () => boolean
  /** The appservice's registration id: each homeserver is asked to ping it once the controller runs. */
  readonly appserviceId: string
  /** How long an alias query waits for its room. */
  readonly aliasQueryTimeout?: Duration.DurationInput
}

/** What the daemon's parts see of the controller while it leads. */
export interface Controller {
  /** Queues rooms to reconcile (database changes, CLI/HTTP requests). */
  readonly enqueue: (keys: ReadonlyArray<RoomKey>, source: AddSource) => Effect.Effect<void>
  /** Events of an appservice transaction: drop cached state, queue the rooms changed by others. */
  readonly onMatrixEvents: (events: ReadonlyArray<RoomEvent>) => Effect.Effect<void>
  /** An alias query: reconciles the alias's room now; true when the room exists afterwards. */
  readonly onAliasQuery: (alias: string) => Effect.Effect<boolean>
  /** Plans every room of every tenant and queues those that need work; applies orphan clean-up. */
  readonly fullSync: Effect.Effect<void>
  /** Runs the periodic full resync now (once, however often asked before it starts). */
  readonly requestResync: Effect.Effect<void>
  readonly firstSyncDone: Effect.Effect<boolean>
}

type Services = DesiredState | Homeservers | Store

interface Waiter {
  readonly deferred: Deferred.Deferred<boolean>
}

/**
 * The controller: a work queue of room keys, workers that reconcile batches of keys
 * (level-triggered: each reads desired and actual state fresh, through the state cache),
 * a jittered periodic full resync, and the handlers of Matrix's triggers. `start` runs
 * it in the scope; closing the scope stops taking work, waits up to `shutdownGrace` for
 * rooms in progress, then abandons them.
 */
export const startController = (options: ControllerOptions): Effect.Effect<Controller, never, Services | Scope.Scope> =>
  Effect.gen(function* () {
    const metrics: Option.Option<ReconcilerMetrics> = yield* Effect.serviceOption(Metrics)
    const observe = (f: (m: ReconcilerMetrics) => void) => {
      if (Option.isSome(metrics)) f(metrics.value)
    }
    const store = yield* Store
    const desiredState = yield* DesiredState
    const context = yield* Effect.context<Services>()
    const queue = yield* makeWorkQueue(options.backoff, {
      onAdd: (source) => observe((m) => m.workqueueAdds.inc({ source })),
      onTake: (seconds) => observe((m) => m.workqueueQueueDuration.observe(seconds)),
      onRetry: () => observe((m) => m.workqueueRetries.inc()),
      onDepth: (depth) => observe((m) => m.workqueueDepth.set(depth)),
    })
    const safety: SafetyOptions = { confirmDestructive: false, allowEmpty: false }
    // The workers share RECONCILE_CONCURRENCY: at most that many rooms are read or written at once.
    const perBatch = Math.max(1, Math.floor(options.concurrency / options.workers))
    const runtimes = new Map(options.tenants.map((r) => [r.tenant.id, r]))
    const botUsers = new Set(options.tenants.map((r) => r.botUserId))
    /** Which key owns a room, from the reconciler's records and every plan since. */
    const keyOfRoom = new Map<string, string>()
    /** The last status of every room, for `reconciler_rooms`. */
    const statuses = new Map<string, { readonly tenant: string; readonly kind: string; readonly status: string }>()
    const held = new Map<string, number>()
    const waiters = new Map<string, Array<Waiter>>()
    const inProgress = new Set<string>()
    /** When a worker last finished each key: a full resync's older view of it is not recorded. */
    const finishedAt = new Map<string, number>()
    const firstSync = yield* Ref.make(false)
    let stopping = false

    const publishRooms = () =>
      observe((m) => {
        m.setRooms(
          options.tenants.map((r) => r.tenant.id),
          [...statuses.values()],
        )
        let total = 0
        for (const n of held.values()) total += n
        m.destructiveActionsHeld.set(total)
      })

    /** Remembers what a plan says of each room: its id (for transactions), status and held actions. */
    const remember = (rooms: ReadonlyArray<RoomPlan>) => {
      for (const room of rooms) {
        const key = formatRoomKey(room.key)
        if (room.roomId !== undefined && room.key.kind !== "orphan") keyOfRoom.set(room.roomId, key)
        statuses.set(key, { tenant: room.key.tenant, kind: room.key.kind, status: room.status })
        const heldCount = room.actions.filter((a) => a.held === true).length
        if (heldCount > 0) held.set(key, heldCount)
        else held.delete(key)
      }
      publishRooms()
    }

    const countActions = (result: PlanResult, applied: ReadonlyArray<AppliedAction>) =>
      observe((m) => {
        for (const { action, outcome } of applied) m.actionsTotal.inc({ type: action.type, result: outcome.result })
        for (const room of result.plan.rooms) {
          for (const action of room.actions) {
            if (action.held === true) m.actionsTotal.inc({ type: action.type, result: "held" })
            else if (options.dryRun) m.actionsTotal.inc({ type: action.type, result: "dry_run" })
          }
        }
      })

    /**
     * Destructive units (kicks, lowered levels) applied per tenant since the last full
     * resync began: the per-pass cap of policy.md §5 holds for the daemon's whole
     * resync interval, not for each batch, so a bad day cannot kick in many small steps.
     */
    const spent = new Map<string, number>()
    const withBudget = (runtime: TenantRuntime): TenantRuntime => {
      const limits = runtime.policy.limits
      const left = Math.max(0, limits.maxDestructivePerPass - (spent.get(runtime.tenant.id) ?? 0))
      return { ...runtime, policy: { ...runtime.policy, limits: { ...limits, maxDestructivePerPass: left } } }
    }
    const spend = (actions: ReadonlyArray<AppliedAction>) => {
      for (const { key, action, outcome } of actions) {
        if (outcome.result === "applied") spent.set(key.tenant, (spent.get(key.tenant) ?? 0) + destructiveUnits(action))
      }
    }

    const tenantsOf = (keys: ReadonlyArray<RoomKey>) =>
      options.tenants.filter((r) => keys.some((key) => key.tenant === r.tenant.id)).map(withBudget)

    /** Reconciles one batch of keys; returns the keys to retry. */
    const reconcileBatch = (texts: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const started = performance.now()
        const keys = texts.flatMap((text) => {
          const parsed = parseRoomKey(text)
          return Either.isRight(parsed) && runtimes.has(parsed.right.tenant) ? [parsed.right] : []
        })
        const result = yield* planPass({ tenants: tenantsOf(keys), rooms: keys }, { concurrency: perBatch, safety })
        const failedTenants = new Set(result.failedTenants.map((f) => f.tenant))
        for (const failure of result.failedTenants) {
          yield* Effect.logError(`tenant ${failure.tenant}: ${failure.message}; its rooms are retried`)
        }
        let rooms = result.plan.rooms
        let failedKeys = new Set<string>()
        if (!options.dryRun) {
          const applied = yield* applyPlan(result, { concurrency: perBatch, safety, recordPass: false })
          spend(applied.actions)
          rooms = applied.rooms
          countActions(result, applied.actions)
          failedKeys = new Set(
            applied.actions.filter((a) => a.outcome.result !== "applied").map((a) => formatRoomKey(a.key)),
          )
        } else {
          countActions(result, [])
          const drifted = rooms.filter((room) => pendingActions(room).length > 0)
          for (const room of drifted) {
            yield* Effect.logInfo(
              `dry run: ${formatRoomKey(room.key)} has ${pendingActions(room).length} pending action(s)`,
            ).pipe(Effect.annotateLogs({ "room.key": formatRoomKey(room.key) }))
          }
        }
        remember(rooms)
        const seconds = (performance.now() - started) / 1000
        const byKey = new Map(rooms.map((room) => [formatRoomKey(room.key), room]))
        const retry: Array<string> = []
        for (const text of texts) {
          const room = byKey.get(text)
          const parsed = parseRoomKey(text)
          const kind = Either.isRight(parsed) ? parsed.right.kind : "event"
          const tenant = Either.isRight(parsed) ? parsed.right.tenant : ""
          const failed = failedTenants.has(tenant) || failedKeys.has(text) || room?.status === "error"
          const outcome = failed ? "error" : room?.status === "blocked" ? "blocked" : "success"
          observe((m) => {
            m.reconcileTotal.inc({ kind, result: outcome })
            m.reconcileDuration.observe({ kind }, seconds)
          })
          if (failed) retry.push(text)
          for (const waiter of waiters.get(text) ?? []) {
            yield* Deferred.succeed(waiter.deferred, room?.roomId !== undefined && room.status !== "missing")
          }
          waiters.delete(text)
        }
        // pendingHandles of a batch counts only its rooms' users: the gauge is set by the full resync.
        return retry
      }).pipe(Effect.withSpan("reconcile.cycle", { attributes: { "reconcile.keys": texts.length, trigger: "queue" } }))

    const worker = Effect.gen(function* () {
      while (!stopping) {
        const batch = yield* queue.takeBatch(options.batchSize)
        if (stopping) {
          for (const key of batch) yield* queue.done(key)
          return
        }
        for (const key of batch) inProgress.add(key)
        const retry = yield* reconcileBatch(batch).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logError("reconcile failed; the rooms are retried", cause).pipe(Effect.as(batch)),
          ),
        )
        const failed = new Set(retry)
        const now = performance.now()
        for (const key of batch) {
          inProgress.delete(key)
          finishedAt.set(key, now)
          if (failed.has(key)) yield* queue.retry(key)
          else {
            yield* queue.forget(key)
            yield* queue.done(key)
          }
        }
      }
    })

    const fullSync = Effect.gen(function* () {
      const started = performance.now()
      spent.clear()
      // One fresh joined-rooms read per homeserver each resync; room state stays cached.
      options.cache.invalidateJoined()
      const result = yield* planPass(
        { tenants: options.tenants, rooms: [] },
        { concurrency: options.concurrency, safety },
      )
      for (const failure of result.failedTenants) {
        yield* Effect.logError(`full resync: tenant ${failure.tenant}: ${failure.message}`)
      }
      // A room a worker reconciled meanwhile may have changed since this pass read it: the
      // worker's view is newer, so the pass neither records nor queues it.
      const current = (room: RoomPlan) => {
        const key = formatRoomKey(room.key)
        return !inProgress.has(key) && (finishedAt.get(key) ?? 0) < started
      }
      const rooms = result.plan.rooms.filter(current)
      // Keys a complete tenant no longer has are no longer managed: forget their status.
      for (const [key, entry] of statuses) {
        if (result.completeTenants.includes(entry.tenant) && !inProgress.has(key)) statuses.delete(key)
      }
      remember(rooms)
      for (const [tenant, count] of result.pendingHandles) observe((m) => m.pendingHandles.set({ tenant }, count))
      // Rooms whose plan is empty were just reconciled; the others go through the queue.
      const needWork = rooms.filter(
        (room) =>
          room.key.kind !== "orphan" &&
          (pendingActions(room).length > 0 || room.status === "error" || room.status === "blocked"),
      )
      for (const room of needWork) yield* queue.add(formatRoomKey(room.key), "resync")
      const orphans = rooms.filter((room) => room.key.kind === "orphan")
      if (options.dryRun) countActions({ ...result, plan: { rooms: orphans } }, [])
      else {
        yield* store.recordStatus(
          rooms,
          result.completeTenants,
          result.plan.rooms.map((room) => formatRoomKey(room.key)),
        )
        // Orphans have no key to queue: their clean-up is applied here, within the caps.
        const applied = yield* applyPlan(
          { ...result, plan: { rooms: orphans }, completeTenants: [] },
          { concurrency: options.concurrency, safety },
        )
        spend(applied.actions)
        countActions({ ...result, plan: { rooms: orphans } }, applied.actions)
      }
      yield* Ref.set(firstSync, true)
      observe((m) => {
        m.lastFullSync.set(Date.now() / 1000)
        m.fullSyncDuration.observe((performance.now() - started) / 1000)
      })
      yield* Effect.logInfo(
        `full resync: ${result.plan.rooms.length} room(s) planned, ${needWork.length} queued, ${orphans.length} orphan(s)`,
      )
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logError("full resync failed; it runs again next interval", cause)),
      Effect.withSpan("reconcile.cycle", { attributes: { trigger: "resync" } }),
    )

    const onMatrixEvents = (events: ReadonlyArray<RoomEvent>) =>
      Effect.gen(function* () {
        for (const event of events) {
          if (event.state_key === undefined) continue
          options.cache.invalidateRoom(event.room_id)
          if (event.type === "m.room.member" && botUsers.has(event.state_key)) options.cache.invalidateJoined()
          if (event.type === "m.room.canonical_alias" && isRecord(event.content)) {
            const { alias, alt_aliases: alt } = event.content
            if (typeof alias === "string") options.cache.invalidateAlias(alias)
            if (Array.isArray(alt)) for (const a of alt) if (typeof a === "string") options.cache.invalidateAlias(a)
          }
          // The reconciler's own writes come back as events too: they need no reconcile.
          if (event.sender !== undefined && botUsers.has(event.sender)) continue
          const key = keyOfRoom.get(event.room_id)
          if (key !== undefined) yield* queue.add(key, "change")
        }
      })

    const onAliasQuery = (alias: string) =>
      Effect.gen(function* () {
        for (const runtime of options.tenants) {
          if (options.cache.isResolving(alias)) return false
          const parsed = parseAlias(alias, runtime.tenant.serverName)
          if (parsed === undefined || parsed.tenant !== runtime.tenant.id) continue
          const id = yield* desiredState.entityIdBySlug(runtime.tenant, parsed.kind, parsed.slug)
          if (id === undefined) return false
          const key = formatRoomKey({ tenant: runtime.tenant.id, kind: parsed.kind, entityId: id })
          // The reconciler itself asks the homeserver about the alias while reconciling the
          // room, and the homeserver asks us: the room does not exist yet. Anyone else's
          // query waits for the reconcile, even one already under way.
          if (options.cache.isResolving(alias)) return false
          const deferred = yield* Deferred.make<boolean>()
          waiters.set(key, [...(waiters.get(key) ?? []), { deferred }])
          yield* queue.add(key, "change")
          return yield* Deferred.await(deferred).pipe(
            Effect.timeoutTo({
              duration: options.aliasQueryTimeout ?? "20 seconds",
              onTimeout: () => false,
              onSuccess: (exists) => exists,
            }),
          )
        }
        return false
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`alias query ${alias}: ${error.message}`).pipe(Effect.as(false))),
      )

    // Where each recorded room belongs, so the first transactions already find their keys.
    const records = yield* store
      .roomRecords(options.tenants.map((r) => r.tenant.id))
      .pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`reading room records failed: ${error.message}`).pipe(Effect.as(new Map())),
        ),
      )
    for (const record of records.values()) keyOfRoom.set(record.roomId, record.key)

    // A homeserver that found the appservice down waits up to minutes before retrying its
    // transactions; a ping makes it send them now (and proves it can reach us).
    yield* Effect.forkScoped(
      Effect.forEach(
        options.tenants,
        (runtime) =>
          Effect.flatMap(Homeservers, (homeservers) =>
            homeservers.forServer(runtime.tenant.serverName, ownHomeserver(runtime)),
          ).pipe(
            Effect.flatMap((matrix) => matrix.pingAppservice(options.appserviceId)),
            Effect.catchAll((error) =>
              Effect.logWarning(
                `tenant ${runtime.tenant.id}: the homeserver could not ping the appservice (check the registration's url): ${describeMatrixError(error)}`,
              ),
            ),
          ),
        { discard: true },
      ).pipe(Effect.provide(context)),
    )

    const workers = yield* FiberSet.make()
    for (let i = 0; i < options.workers; i++) yield* FiberSet.run(workers, worker.pipe(Effect.provide(context)))
    // Asks for a full resync before its time (a gap in the change feed); several asks are one.
    const resyncNow = yield* Queue.sliding<void>(1)
    const resync = Effect.gen(function* () {
      while (true) {
        yield* fullSync.pipe(Effect.provide(context))
        // Jittered: replicas and restarts do not resync in step.
        const interval = Duration.toMillis(options.resyncInterval)
        yield* Effect.raceFirst(
          Effect.sleep(Duration.millis(interval * (0.9 + 0.2 * (yield* Random.next)))),
          Queue.take(resyncNow),
        )
      }
    })
    const resyncFiber = yield* Effect.forkScoped(resync)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        stopping = true
        yield* Fiber.interrupt(resyncFiber)
        // Rooms in progress get the grace period to finish; then they are abandoned.
        const idle = Effect.gen(function* () {
          while (inProgress.size > 0) yield* Effect.sleep("50 millis")
        })
        if (options.abandonNow?.() !== true) yield* idle.pipe(Effect.timeout(options.shutdownGrace), Effect.ignore)
        if (inProgress.size > 0) {
          yield* Effect.logWarning(`shutdown: abandoning ${inProgress.size} room(s) in progress`)
        }
        // A replica that no longer leads reports no rooms: sums over replicas stay true.
        statuses.clear()
        held.clear()
        publishRooms()
        observe((m) => {
          m.workqueueDepth.set(0)
          for (const runtime of options.tenants) m.pendingHandles.set({ tenant: runtime.tenant.id }, 0)
        })
      }),
    )

    return {
      enqueue: (keys, source) =>
        Effect.forEach(keys, (key) => queue.add(formatRoomKey(key), source), { discard: true }),
      onMatrixEvents,
      onAliasQuery,
      fullSync: fullSync.pipe(Effect.provide(context)),
      requestResync: Queue.offer(resyncNow, undefined).pipe(Effect.asVoid),
      firstSyncDone: Ref.get(firstSync),
    }
  })
