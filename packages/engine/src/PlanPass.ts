import type { DesiredOutcome, RoomPlan } from "@openmeet-reconciler/core"
import { compareRoomPlans, conditionPlan, formatRoomKey, gateTenant, isArchived } from "@openmeet-reconciler/core"
import type { MatrixService } from "@openmeet-reconciler/matrix"
import { describeMatrixError, type Homeservers, Matrix } from "@openmeet-reconciler/matrix"
import { DesiredState, type TenantRows } from "@openmeet-reconciler/openmeet"
import { Effect, Either } from "effect"
import { findOrphans } from "./Orphans.ts"
import type { PassOptions, PlanResult, RoomDetails, Scope, TenantFailure, TenantRuntime, Unrecorded } from "./Pass.ts"
import { aliasOf, asConnected, filterOf, homeserverOf, keyOf, noSafety } from "./Pass.ts"
import type { PassState } from "./RoomIdentity.ts"
import { aliasToResolve, identifyRoom } from "./RoomIdentity.ts"
import { planIdentified, twoKeysOneRoom } from "./RoomPlanning.ts"
import type { StoreError } from "./Store.ts"
import { Store } from "./Store.ts"

interface Work {
  readonly outcome: DesiredOutcome
  readonly runtime: TenantRuntime
}

/** What building a tenant's rooms found, filled in batch by batch (policy.md §5, pending handles). */
interface Tally {
  /** Distinct entitled users without a Matrix handle yet. */
  readonly pending: Set<string>
  /** Every room built so far is desired (none failed). */
  desiredOnly: boolean
  /** Some room built so far has a member. */
  entitled: boolean
}

/** A tenant's rows, its rooms not yet built. */
interface Source {
  readonly rows: TenantRows
  readonly runtime: TenantRuntime
  readonly tally: Tally
}

interface Homeserver {
  readonly matrix: MatrixService
  readonly runtimes: Array<TenantRuntime>
  readonly sources: Array<Source>
}

/**
 * Rooms built and planned at a time, by default. A pass holds the desired and actual rooms of
 * one batch (and the plans of all), not every room's at once: at 10,000 rooms that is the
 * most of a pass's heap.
 */
const defaultBatchSize = 500

/** A tenant's rooms, a batch at a time, counted in its tally as they are built. */
function* batches(source: Source, size: number): Generator<ReadonlyArray<Work>> {
  const { rows, runtime, tally } = source
  for (let from = 0; from < rows.size; from += size) {
    yield rows.build(from, from + size).map((result) => {
      for (const userId of result.pendingHandles) tally.pending.add(userId)
      const outcome = result.outcome
      if (outcome._tag !== "Desired") tally.desiredOnly = false
      else if (outcome.room.members.size > 0) tally.entitled = true
      return { outcome, runtime }
    })
  }
}

/** What the desired state of the scope's tenants says, grouped by the homeserver they live on. */
const readDesired = (scope: Scope) =>
  Effect.gen(function* () {
    const desiredState = yield* DesiredState
    const partial = scope.rooms.length > 0
    const failedTenants: Array<TenantFailure> = []
    const tenants: Array<{ readonly source: Source; readonly entitled: boolean | undefined }> = []
    // Tenants that share a homeserver are planned together: one joined-rooms read, one orphan search.
    const homeservers = new Map<MatrixService, Homeserver>()
    for (const runtime of scope.tenants) {
      const id = runtime.tenant.id
      const wanted = scope.rooms.filter((key) => key.tenant === id)
      if (partial && wanted.length === 0) continue
      const desired = yield* desiredState
        .readTenant(runtime.tenant, runtime.policy, partial ? filterOf(wanted) : undefined)
        .pipe(Effect.either)
      if (Either.isLeft(desired)) {
        failedTenants.push({ tenant: id, message: `query ${desired.left.query} failed: ${desired.left.message}` })
        continue
      }
      const matrix = yield* homeserverOf(runtime).pipe(Effect.either)
      if (Either.isLeft(matrix)) {
        failedTenants.push({ tenant: id, message: `homeserver: ${describeMatrixError(matrix.left)}` })
        continue
      }
      const connected = asConnected(runtime, matrix.right)
      const source = {
        rows: desired.right,
        runtime: connected,
        tally: { pending: new Set<string>(), desiredOnly: true, entitled: false },
      }
      // policy.md §5: "empty" is the whole tenant's verdict; some rooms only are not enough to judge.
      // A verdict that cannot be had is taken as empty: no kick follows from unreadable data.
      const entitled = partial
        ? yield* desiredState.hasEntitledUsers(runtime.tenant, runtime.policy).pipe(Effect.orElseSucceed(() => false))
        : undefined
      tenants.push({ source, entitled })
      const group = homeservers.get(matrix.right) ?? { matrix: matrix.right, runtimes: [], sources: [] }
      group.runtimes.push(connected)
      group.sources.push(source)
      homeservers.set(matrix.right, group)
    }
    /** Tenants whose rows all read and whose rooms, all built by now, are all desired. */
    const trusted = () =>
      new Set(
        tenants
          .filter(({ source }) => source.rows.problems.length === 0 && source.tally.desiredOnly)
          .map(({ source }) => source.rows.tenant.id),
      )
    /** Once every room is built: the pending handles and the tenants whose desired state entitles nobody. */
    const verdicts = () => ({
      pendingHandles: new Map(tenants.map(({ source }) => [source.rows.tenant.id, source.tally.pending.size])),
      empty: new Set(
        tenants
          .filter(({ source, entitled }) => !(entitled ?? source.tally.entitled))
          .map(({ source }) => source.rows.tenant.id),
      ),
    })
    return { failedTenants, trusted, verdicts, homeservers: [...homeservers.values()] }
  })

/**
 * Looks up at once the aliases the pass's keys will need. A free alias in the appservice's
 * exclusive namespace makes the homeserver ask the appservice first, which mostly waits
 * (about 300 ms when nobody answers, as for the CLI): many lookups in flight, not work, so
 * they run wider than room reads. A lookup that fails is left to the key, which reports it.
 */
const resolveAliases = (work: ReadonlyArray<Work>, state: PassState, concurrency: number) =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    const wanted = [...new Set(work.flatMap(({ outcome }) => aliasToResolve(outcome, state) ?? []))]
    const found = yield* Effect.forEach(
      wanted,
      (alias) =>
        matrix.resolveAlias(alias).pipe(
          Effect.either,
          Effect.map((result) => [alias, result] as const),
        ),
      { concurrency: Math.min(64, concurrency * aliasLookupsPerRead) },
    )
    return new Map(found.flatMap(([alias, result]) => (Either.isRight(result) ? [[alias, result.right] as const] : [])))
  })

/** How many alias lookups may be in flight per room read allowed (RECONCILE_CONCURRENCY). */
const aliasLookupsPerRead = 8

/**
 * Computes the plan for a scope before the safety gate: desired from OpenMeet, actual from
 * Matrix, the diff by the pure planner. Plain data comes out; nothing is written anywhere.
 */
export const planUngated = (
  scope: Scope,
  options: PassOptions,
): Effect.Effect<PlanResult, StoreError, DesiredState | Homeservers | Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const desired = yield* readDesired(scope)
    const planned = desired.homeservers.flatMap((h) => h.runtimes)
    const records = yield* store.roomRecords(
      planned.map((r) => r.tenant.id),
      scope.rooms.length > 0 ? scope.rooms.map(formatRoomKey) : undefined,
    )
    const total = desired.homeservers.reduce((n, h) => n + h.sources.reduce((m, source) => m + source.rows.size, 0), 0)
    let done = 0
    const progress = options.onProgress ?? (() => Effect.void)
    const keepDetails = options.details !== false
    const batchSize = Math.max(1, options.batchSize ?? defaultBatchSize)

    const rooms: Array<RoomPlan> = []
    const details = new Map<string, RoomDetails>()
    const unrecorded: Array<Unrecorded> = []
    const unreadable: Array<RoomPlan> = []
    const orphans: Array<{ readonly plan: RoomPlan; readonly details: RoomDetails }> = []
    const strays = new Map<string, Array<RoomPlan["conditions"][number]>>()
    for (const { matrix, runtimes, sources } of desired.homeservers) {
      const joined = yield* matrix.joinedRooms.pipe(Effect.either)
      if (Either.isLeft(joined)) {
        // Without this homeserver nothing of its tenants can be compared: errors, no actions.
        const message = `reading Matrix failed: ${describeMatrixError(joined.left)}`
        for (const source of sources) {
          for (const work of batches(source, batchSize)) {
            for (const { outcome } of work) {
              unreadable.push(
                conditionPlan({ key: keyOf(outcome), alias: aliasOf(outcome), roomId: undefined }, "error", message),
              )
            }
          }
        }
        continue
      }
      const claimed = new Set<string>()
      let readsFailed = false
      for (const source of sources) {
        for (const work of batches(source, batchSize)) {
          const aliases = yield* resolveAliases(work, { joined: joined.right, records }, options.concurrency).pipe(
            Effect.provideService(Matrix, matrix),
          )
          const found = yield* Effect.forEach(
            work,
            (item) =>
              identifyRoom(item.outcome, { joined: joined.right, records, aliases }).pipe(
                Effect.map((result) => ({ ...item, identified: result })),
                Effect.tap(() => progress(++done, total)),
              ),
            { concurrency: options.concurrency },
          ).pipe(Effect.provideService(Matrix, matrix))
          for (const f of found) {
            for (const id of f.identified.claims) claimed.add(id)
            if (f.identified._tag === "Unreadable") readsFailed = true
          }
          // Rooms the reconciler archived itself may be lifted; anyone else's read-only room is left.
          const archivable = found.flatMap(({ outcome, identified: i }) =>
            i._tag === "Found" && outcome._tag === "Desired" && !outcome.room.archived && isArchived(i.actual)
              ? [i.roomId]
              : [],
          )
          const archivedByReconciler = yield* store.archivedByReconciler(archivable)
          for (const { outcome, runtime, identified: i } of found) {
            if (i._tag === "Found" && i.via !== "record") {
              unrecorded.push({ key: keyOf(outcome), roomId: i.roomId, alias: aliasOf(outcome) })
            }
            const { plan, details: detail } = planIdentified(outcome, runtime, i, archivedByReconciler)
            if (plan === undefined) continue
            rooms.push(plan)
            if (keepDetails) details.set(formatRoomKey(plan.key), detail)
          }
        }
      }
      // policy.md §5: no orphan is declared for a homeserver whose reads failed in the pass.
      if (scope.rooms.length > 0) continue
      if (readsFailed) {
        yield* Effect.logWarning("orphan search skipped: a room of this homeserver could not be read in this pass")
        continue
      }
      const search = yield* findOrphans({
        runtimes,
        unclaimed: [...joined.right].filter((id) => !claimed.has(id)),
        trusted: desired.trusted(),
        concurrency: options.concurrency,
      }).pipe(Effect.provideService(Matrix, matrix))
      if (search.skipped !== undefined) yield* Effect.logWarning(`orphan search: ${search.skipped}; none declared`)
      orphans.push(...search.orphans)
      for (const stray of search.strays) {
        const key = formatRoomKey(stray.key)
        strays.set(key, [...(strays.get(key) ?? []), stray.condition])
      }
    }

    const withStrays = rooms.map((plan) => {
      const extra = strays.get(formatRoomKey(plan.key)) ?? []
      return extra.length === 0 ? plan : { ...plan, conditions: [...plan.conditions, ...extra] }
    })
    for (const orphan of orphans) details.set(formatRoomKey(orphan.plan.key), orphan.details)
    const all = [...twoKeysOneRoom(withStrays), ...orphans.map((o) => o.plan), ...unreadable].sort(compareRoomPlans)
    const { pendingHandles, empty } = desired.verdicts()

    return {
      scope,
      plan: { rooms: all },
      failedTenants: desired.failedTenants,
      pendingHandles,
      completeTenants: scope.rooms.length > 0 ? [] : planned.map((r) => r.tenant.id),
      unrecorded,
      details,
      emptyTenants: empty,
      reserved: new Map(),
    } satisfies PlanResult
  }).pipe(Effect.withSpan("reconcile.plan"))

/**
 * The safety gate of policy.md §5 over a plan, tenant by tenant: with `options.budget`, the
 * units it lets through are reserved from that shared budget; without, each tenant has a
 * whole pass's `maxDestructivePerPass`.
 */
export const gatePlan = (result: PlanResult, options: PassOptions): Effect.Effect<PlanResult> =>
  Effect.gen(function* () {
    const safety = options.safety ?? noSafety
    const reserved = new Map(result.reserved)
    const rooms: Array<RoomPlan> = []
    for (const runtime of result.scope.tenants) {
      const id = runtime.tenant.id
      const mine = result.plan.rooms.filter((room) => room.key.tenant === id)
      if (mine.length === 0) continue
      const tenant = {
        tenant: id,
        limits: runtime.policy.limits,
        rooms: mine,
        desiredEmpty: result.emptyTenants.has(id),
      }
      if (options.budget === undefined) {
        rooms.push(...gateTenant(tenant, safety).rooms)
        continue
      }
      const gated = yield* options.budget.gate(tenant, safety)
      if (gated.reservation.units > 0) reserved.set(id, gated.reservation)
      rooms.push(...gated.rooms)
    }
    return { ...result, plan: { rooms }, reserved }
  })

/** The plan for a scope, through the safety gate: what `plan` prints and `apply` runs. */
export const planPass = (
  scope: Scope,
  options: PassOptions,
): Effect.Effect<PlanResult, StoreError, DesiredState | Homeservers | Store> =>
  Effect.flatMap(planUngated(scope, options), (result) => gatePlan(result, options))
