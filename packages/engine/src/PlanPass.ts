import type { DesiredOutcome, RoomPlan } from "@openmeet-reconciler/core"
import { compareRoomPlans, conditionPlan, formatRoomKey, gateTenant, isArchived } from "@openmeet-reconciler/core"
import type { MatrixService } from "@openmeet-reconciler/matrix"
import { describeMatrixError, type Homeservers, Matrix } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Either } from "effect"
import { findOrphans } from "./Orphans.ts"
import type { PassOptions, PlanResult, RoomDetails, Scope, TenantFailure, TenantRuntime, Unrecorded } from "./Pass.ts"
import { aliasOf, asConnected, filterOf, homeserverOf, keyOf, noSafety } from "./Pass.ts"
import type { Identified } from "./RoomIdentity.ts"
import { identifyRoom } from "./RoomIdentity.ts"
import { planIdentified, twoKeysOneRoom } from "./RoomPlanning.ts"
import type { StoreError } from "./Store.ts"
import { Store } from "./Store.ts"

interface Work {
  readonly outcome: DesiredOutcome
  readonly runtime: TenantRuntime
}

interface Homeserver {
  readonly matrix: MatrixService
  readonly runtimes: Array<TenantRuntime>
  readonly work: Array<Work>
}

/** What the desired state of the scope's tenants says, grouped by the homeserver they live on. */
const readDesired = (scope: Scope) =>
  Effect.gen(function* () {
    const desiredState = yield* DesiredState
    const partial = scope.rooms.length > 0
    const failedTenants: Array<TenantFailure> = []
    const pendingHandles = new Map<string, number>()
    const trusted = new Set<string>()
    const empty = new Set<string>()
    // Tenants that share a homeserver are planned together: one joined-rooms read, one orphan search.
    const homeservers = new Map<MatrixService, Homeserver>()
    for (const runtime of scope.tenants) {
      const id = runtime.tenant.id
      const wanted = scope.rooms.filter((key) => key.tenant === id)
      if (partial && wanted.length === 0) continue
      const desired = yield* desiredState
        .forTenant(runtime.tenant, runtime.policy, partial ? filterOf(wanted) : undefined)
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
      const { rooms, problems } = desired.right
      pendingHandles.set(id, desired.right.pendingHandles)
      if (problems.length === 0 && rooms.every((r) => r._tag === "Desired")) trusted.add(id)
      // policy.md §5: "empty" is the whole tenant's verdict; some rooms only are not enough to judge.
      // A verdict that cannot be had is taken as empty: no kick follows from unreadable data.
      const entitled = partial
        ? yield* desiredState.hasEntitledUsers(runtime.tenant, runtime.policy).pipe(Effect.orElseSucceed(() => false))
        : rooms.some((r) => r._tag === "Desired" && r.room.members.size > 0)
      if (!entitled) empty.add(id)
      const group = homeservers.get(matrix.right) ?? { matrix: matrix.right, runtimes: [], work: [] }
      group.runtimes.push(connected)
      for (const outcome of rooms) group.work.push({ outcome, runtime: connected })
      homeservers.set(matrix.right, group)
    }
    return { failedTenants, pendingHandles, trusted, empty, homeservers: [...homeservers.values()] }
  })

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
    const total = desired.homeservers.reduce((n, h) => n + h.work.length, 0)
    let done = 0
    const progress = options.onProgress ?? (() => Effect.void)

    const identified: Array<Work & { readonly identified: Identified }> = []
    const unreadable: Array<RoomPlan> = []
    const orphans: Array<{ readonly plan: RoomPlan; readonly details: RoomDetails }> = []
    const strays = new Map<string, Array<RoomPlan["conditions"][number]>>()
    for (const { matrix, runtimes, work } of desired.homeservers) {
      const joined = yield* matrix.joinedRooms.pipe(Effect.either)
      if (Either.isLeft(joined)) {
        // Without this homeserver nothing of its tenants can be compared: errors, no actions.
        const message = `reading Matrix failed: ${describeMatrixError(joined.left)}`
        for (const { outcome } of work) {
          unreadable.push(
            conditionPlan({ key: keyOf(outcome), alias: aliasOf(outcome), roomId: undefined }, "error", message),
          )
        }
        continue
      }
      const found = yield* Effect.forEach(
        work,
        (item) =>
          identifyRoom(item.outcome, { joined: joined.right, records }).pipe(
            Effect.map((result) => ({ ...item, identified: result })),
            Effect.tap(() => progress(++done, total)),
          ),
        { concurrency: options.concurrency },
      ).pipe(Effect.provideService(Matrix, matrix))
      identified.push(...found)
      // policy.md §5: no orphan is declared for a homeserver whose reads failed in the pass.
      const readsFailed = found.some((f) => f.identified._tag === "Unreadable")
      if (scope.rooms.length > 0) continue
      if (readsFailed) {
        yield* Effect.logWarning("orphan search skipped: a room of this homeserver could not be read in this pass")
        continue
      }
      const claimed = new Set(found.flatMap((f) => f.identified.claims))
      const search = yield* findOrphans({
        runtimes,
        unclaimed: [...joined.right].filter((id) => !claimed.has(id)),
        trusted: desired.trusted,
        concurrency: options.concurrency,
      }).pipe(Effect.provideService(Matrix, matrix))
      if (search.skipped !== undefined) yield* Effect.logWarning(`orphan search: ${search.skipped}; none declared`)
      orphans.push(...search.orphans)
      for (const stray of search.strays) {
        const key = formatRoomKey(stray.key)
        strays.set(key, [...(strays.get(key) ?? []), stray.condition])
      }
    }

    // Rooms the reconciler archived itself may be lifted; anyone else's read-only room is left.
    const archivable = identified.flatMap(({ outcome, identified: i }) =>
      i._tag === "Found" && outcome._tag === "Desired" && !outcome.room.archived && isArchived(i.actual)
        ? [i.roomId]
        : [],
    )
    const archivedByReconciler = yield* store.archivedByReconciler(archivable)

    const rooms: Array<RoomPlan> = []
    const details = new Map<string, RoomDetails>()
    for (const { outcome, runtime, identified: found } of identified) {
      const { plan, details: detail } = planIdentified(outcome, runtime, found, archivedByReconciler)
      if (plan === undefined) continue
      const extra = strays.get(formatRoomKey(plan.key)) ?? []
      rooms.push(extra.length === 0 ? plan : { ...plan, conditions: [...plan.conditions, ...extra] })
      details.set(formatRoomKey(plan.key), detail)
    }
    for (const orphan of orphans) details.set(formatRoomKey(orphan.plan.key), orphan.details)
    const all = [...twoKeysOneRoom(rooms), ...orphans.map((o) => o.plan), ...unreadable].sort(compareRoomPlans)

    const unrecorded: Array<Unrecorded> = identified.flatMap(({ outcome, identified: i }) =>
      i._tag === "Found" && i.via !== "record"
        ? [{ key: keyOf(outcome), roomId: i.roomId, alias: aliasOf(outcome) }]
        : [],
    )
    return {
      scope,
      plan: { rooms: all },
      failedTenants: desired.failedTenants,
      pendingHandles: desired.pendingHandles,
      completeTenants: scope.rooms.length > 0 ? [] : planned.map((r) => r.tenant.id),
      unrecorded,
      details,
      emptyTenants: desired.empty,
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
