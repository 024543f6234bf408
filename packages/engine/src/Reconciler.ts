import type {
  Action,
  ActualRoom,
  DesiredOutcome,
  DesiredRoom,
  Plan,
  PlannedAction,
  Policy,
  RoomContext,
  RoomKey,
  RoomPlan,
  SafetyOptions,
} from "@openmeet-reconciler/core"
import {
  aliasTenant,
  applySafety,
  compareRoomPlans,
  conditionPlan,
  formatRoomKey,
  pendingActions,
  planOrphan,
  planRoom,
} from "@openmeet-reconciler/core"
import type { AliasInUse, MatrixRequestError, MatrixService } from "@openmeet-reconciler/matrix"
import { describeMatrixError, Homeservers, Matrix } from "@openmeet-reconciler/matrix"
import type { DesiredFilter, Tenant } from "@openmeet-reconciler/openmeet"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Option } from "effect"
import type { RoomRecord, StoreError } from "./Store.ts"
import { Store } from "./Store.ts"

/** One tenant as the reconciler runs it. */
export interface TenantRuntime {
  readonly tenant: Tenant
  readonly policy: Policy
  readonly botUserId: string
}

/** What a pass looks at: these tenants, or only these rooms of them. */
export interface Scope {
  readonly tenants: ReadonlyArray<TenantRuntime>
  /** When non-empty, only these rooms (and no orphan search). */
  readonly rooms: ReadonlyArray<RoomKey>
}

export interface TenantFailure {
  readonly tenant: string
  readonly message: string
}

/** A plan and what it was computed from, so that apply can act on it. */
export interface PlanResult {
  readonly plan: Plan
  /** Tenants whose desired state could not be computed: nothing of them is planned. */
  readonly failedTenants: ReadonlyArray<TenantFailure>
  readonly pendingHandles: ReadonlyMap<string, number>
  /** Tenants planned in full (no --room filter): keys they no longer have are no longer managed. */
  readonly completeTenants: ReadonlyArray<string>
  /** Rooms found by alias or `"matrixRoomId"` that the reconciler has no record of yet. */
  readonly unrecorded: ReadonlyArray<{
    readonly key: RoomKey
    readonly roomId: string
    readonly alias: string | undefined
  }>
  /** The homeserver of each planned tenant, by tenant id. */
  readonly matrixOf: ReadonlyMap<string, MatrixService>
  /** What each room's plan was computed from, by key (for `explain`). */
  readonly details: ReadonlyMap<string, RoomDetails>
  /** Re-plans one room from fresh state (after a lost race, e.g. an alias taken meanwhile). */
  readonly replan: (key: RoomKey) => Effect.Effect<RoomPlan | undefined>
}

export interface RoomDetails {
  readonly desired: DesiredRoom | undefined
  readonly actual: ActualRoom | undefined
  readonly context: RoomContext
}

export interface PassOptions {
  /** Rooms read or written at once (Synapse gains from about 4). */
  readonly concurrency: number
  /** Which destructive actions may run (policy.md §5); by default the caps hold the rest. */
  readonly safety?: SafetyOptions
  readonly onProgress?: (done: number, total: number) => Effect.Effect<void>
  /** Whether applying records a row in `passes` (a CLI pass, a daemon's full resync); default true. */
  readonly recordPass?: boolean
}

const contextOf = (runtime: TenantRuntime, key: RoomKey): RoomContext => ({
  policy: runtime.policy,
  serverName: runtime.tenant.serverName,
  botUserId: runtime.botUserId,
  kind: key.kind,
})

/** The desired-state filter for these keys. */
const filterOf = (keys: ReadonlyArray<RoomKey>): DesiredFilter => ({
  eventIds: keys.filter((k) => k.kind === "event").map((k) => k.entityId),
  groupIds: keys.filter((k) => k.kind === "group").map((k) => k.entityId),
})

const keyOf = (outcome: DesiredOutcome): RoomKey => (outcome._tag === "Desired" ? outcome.room.key : outcome.key)
const aliasOf = (outcome: DesiredOutcome): string | undefined =>
  outcome._tag === "Desired" ? outcome.room.alias : outcome.alias
const hintOf = (outcome: DesiredOutcome): string | undefined =>
  outcome._tag === "Desired" ? outcome.room.roomIdHint : undefined

/** What the pass knows before looking at single rooms. */
interface PassState {
  readonly joined: ReadonlySet<string>
  readonly records: ReadonlyMap<string, RoomRecord>
}

type Found = { readonly roomId: string; readonly via: "record" | "hint" | "alias" } | undefined

/**
 * policy.md §2, room identity in order: the reconciler's own record, then the row's
 * `"matrixRoomId"` when the bot is in that room, then the alias.
 */
const identifyRoom = (outcome: DesiredOutcome, state: PassState): Effect.Effect<Found, MatrixRequestError, Matrix> =>
  Effect.gen(function* () {
    const record = state.records.get(formatRoomKey(keyOf(outcome)))
    if (record !== undefined && state.joined.has(record.roomId)) return { roomId: record.roomId, via: "record" }
    const hint = hintOf(outcome)
    if (hint !== undefined && state.joined.has(hint)) return { roomId: hint, via: "hint" }
    const alias = aliasOf(outcome)
    if (alias === undefined) return undefined
    const byAlias = yield* (yield* Matrix).resolveAlias(alias)
    return byAlias === undefined ? undefined : { roomId: byAlias, via: "alias" }
  })

interface Planned {
  readonly plan: RoomPlan | undefined
  readonly found: Found
  readonly details: RoomDetails
}

/** Reads Matrix for one desired room and plans it. */
const planOne = (
  outcome: DesiredOutcome,
  runtime: TenantRuntime,
  state: PassState,
): Effect.Effect<Planned, never, Matrix> => {
  const key = keyOf(outcome)
  const context = contextOf(runtime, key)
  const base = { key, alias: aliasOf(outcome), roomId: undefined }
  const desired = outcome._tag === "Desired" ? outcome.room : undefined
  return Effect.gen(function* () {
    const matrix = yield* Matrix
    const found = yield* identifyRoom(outcome, state)
    const none = { desired, actual: undefined, context }
    // A room whose desired state failed is located (so it is never taken for an orphan), never read.
    if (outcome._tag === "Failed" || found === undefined) {
      return { plan: planRoom(outcome, undefined, context), found, details: none }
    }
    if (!state.joined.has(found.roomId)) {
      const message = `the bot is not in room ${found.roomId}, which has the alias`
      return { plan: conditionPlan({ ...base, roomId: found.roomId }, "blocked", message), found, details: none }
    }
    const actual = yield* matrix.readRoom(found.roomId)
    // Found by record or hint with another canonical alias: where does the desired alias point?
    const aliasTarget =
      found.via !== "alias" && actual.canonicalAlias !== outcome.room.alias
        ? ((yield* matrix.resolveAlias(outcome.room.alias)) ?? null)
        : undefined
    return { plan: planRoom(outcome, actual, context, aliasTarget), found, details: { desired, actual, context } }
  }).pipe(
    Effect.catchAll((error) =>
      Effect.succeed({
        plan: conditionPlan(base, "error", `reading Matrix failed: ${describeMatrixError(error)}`),
        found: undefined,
        details: { desired, actual: undefined, context },
      }),
    ),
    Effect.withSpan("reconcile.room.plan", { attributes: { "room.key": formatRoomKey(key) } }),
  )
}

/**
 * Rooms the bot is in that no key claimed, whose alias is in a tenant's namespace: their
 * event or group is gone. A tenant whose desired state had any error only has them
 * reported: missing rows are never a reason to archive or evict.
 */
const findOrphans = (
  runtimes: ReadonlyArray<TenantRuntime>,
  unclaimed: ReadonlyArray<string>,
  trusted: ReadonlySet<string>,
  options: PassOptions,
): Effect.Effect<ReadonlyArray<{ readonly plan: RoomPlan; readonly details: RoomDetails }>, never, Matrix> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    const found = yield* Effect.forEach(
      unclaimed,
      (roomId) =>
        matrix.readRoom(roomId).pipe(
          Effect.map((room) => {
            for (const alias of [room.canonicalAlias, ...room.altAliases]) {
              if (alias === undefined) continue
              const runtime = runtimes.find((r) => aliasTenant(alias, r.tenant.serverName) === r.tenant.id)
              if (runtime === undefined) continue
              const key = { tenant: runtime.tenant.id, kind: "orphan" as const, entityId: roomId }
              const context = contextOf(runtime, key)
              const reportOnly = !trusted.has(runtime.tenant.id)
              const plan = planOrphan(
                room,
                alias,
                runtime.tenant.id,
                reportOnly ? { ...context, policy: { ...context.policy, orphanPolicy: "report" } } : context,
              )
              return Option.some({ plan, details: { desired: undefined, actual: room, context } })
            }
            return Option.none()
          }),
          // A room that cannot be read now is looked at again next pass.
          Effect.catchAll(() => Effect.succeed(Option.none())),
        ),
      { concurrency: options.concurrency },
    )
    return found.flatMap(Option.toArray)
  }).pipe(Effect.withSpan("reconcile.orphans"))

/** The tenant's own homeserver and token from the tenant list, when it has them. */
export const ownHomeserver = (runtime: TenantRuntime) =>
  runtime.tenant.homeserverUrl !== undefined && runtime.tenant.asToken !== undefined
    ? { homeserverUrl: runtime.tenant.homeserverUrl, asToken: runtime.tenant.asToken }
    : undefined

/** The homeserver a tenant's rooms live on, as the engine reaches it. */
const homeserverOf = (runtime: TenantRuntime) =>
  Effect.flatMap(Homeservers, (homeservers) => homeservers.forServer(runtime.tenant.serverName, ownHomeserver(runtime)))

/** Computes the plan for a scope: desired from OpenMeet, actual from Matrix, diff by the pure planner. */
export const planPass = (
  scope: Scope,
  options: PassOptions,
): Effect.Effect<PlanResult, StoreError, DesiredState | Homeservers | Store> =>
  Effect.gen(function* () {
    const desiredState = yield* DesiredState
    const store = yield* Store
    const safety = options.safety ?? { confirmDestructive: false, allowEmpty: false }
    const failedTenants: Array<TenantFailure> = []
    const pendingHandles = new Map<string, number>()
    const trusted = new Set<string>()
    const matrixOf = new Map<string, MatrixService>()
    // Tenants that share a homeserver are planned together: one joined-rooms read, one orphan search.
    const groups = new Map<
      MatrixService,
      Array<{ readonly outcome: DesiredOutcome; readonly runtime: TenantRuntime }>
    >()
    const groupTenants = new Map<MatrixService, Array<TenantRuntime>>()

    for (const runtime of scope.tenants) {
      const wanted = scope.rooms.filter((key) => key.tenant === runtime.tenant.id)
      if (scope.rooms.length > 0 && wanted.length === 0) continue
      const result = yield* desiredState
        .forTenant(runtime.tenant, runtime.policy, wanted.length > 0 ? filterOf(wanted) : undefined)
        .pipe(Effect.either)
      if (result._tag === "Left") {
        failedTenants.push({
          tenant: runtime.tenant.id,
          message: `query ${result.left.query} failed: ${result.left.message}`,
        })
        continue
      }
      const matrix = yield* homeserverOf(runtime).pipe(Effect.either)
      if (matrix._tag === "Left") {
        failedTenants.push({ tenant: runtime.tenant.id, message: `homeserver: ${describeMatrixError(matrix.left)}` })
        continue
      }
      matrixOf.set(runtime.tenant.id, matrix.right)
      pendingHandles.set(runtime.tenant.id, result.right.pendingHandles)
      if (result.right.problems.length === 0 && result.right.rooms.every((r) => r._tag === "Desired")) {
        trusted.add(runtime.tenant.id)
      }
      const group = groups.get(matrix.right) ?? []
      for (const outcome of result.right.rooms) group.push({ outcome, runtime })
      groups.set(matrix.right, group)
      groupTenants.set(matrix.right, [...(groupTenants.get(matrix.right) ?? []), runtime])
    }
    const planned = scope.tenants.filter((r) => matrixOf.has(r.tenant.id))
    const records = yield* store.roomRecords(
      planned.map((r) => r.tenant.id),
      scope.rooms.length > 0 ? scope.rooms.map(formatRoomKey) : undefined,
    )
    const total = [...groups.values()].reduce((n, work) => n + work.length, 0)
    let done = 0

    const results: Array<Planned> = []
    const orphans: Array<{ readonly plan: RoomPlan; readonly details: RoomDetails }> = []
    const unreadable: Array<RoomPlan> = []
    for (const [matrix, work] of groups) {
      const joined = yield* matrix.joinedRooms.pipe(Effect.either)
      if (joined._tag === "Left") {
        // Without this homeserver nothing of its tenants can be compared: errors, no actions.
        const message = `reading Matrix failed: ${describeMatrixError(joined.left)}`
        for (const { outcome } of work) {
          unreadable.push(
            conditionPlan({ key: keyOf(outcome), alias: aliasOf(outcome), roomId: undefined }, "error", message),
          )
        }
        continue
      }
      const state: PassState = { joined: joined.right, records }
      const groupResults = yield* Effect.forEach(
        work,
        ({ outcome, runtime }) =>
          planOne(outcome, runtime, state).pipe(
            Effect.tap(() => {
              done += 1
              return options.onProgress?.(done, total) ?? Effect.void
            }),
          ),
        { concurrency: options.concurrency },
      ).pipe(Effect.provideService(Matrix, matrix))
      results.push(...groupResults)
      if (scope.rooms.length === 0) {
        const claimed = new Set(groupResults.flatMap((r) => (r.found === undefined ? [] : [r.found.roomId])))
        const unclaimed = [...joined.right].filter((id) => !claimed.has(id))
        orphans.push(
          ...(yield* findOrphans(groupTenants.get(matrix) ?? [], unclaimed, trusted, options).pipe(
            Effect.provideService(Matrix, matrix),
          )),
        )
      }
    }
    const unrecorded = results.flatMap(({ plan, found }) =>
      plan !== undefined && found !== undefined && found.via !== "record"
        ? [{ key: plan.key, roomId: found.roomId, alias: plan.alias }]
        : [],
    )

    const rooms = [
      ...results.flatMap((r) => (r.plan === undefined ? [] : [r.plan])),
      ...orphans.map((o) => o.plan),
      ...unreadable,
    ].sort(compareRoomPlans)
    const details = new Map<string, RoomDetails>()
    for (const r of [...results, ...orphans]) {
      if (r.plan !== undefined) details.set(formatRoomKey(r.plan.key), r.details)
    }
    const gate = (tenant: TenantRuntime, tenantRooms: ReadonlyArray<RoomPlan>) =>
      applySafety([{ tenant: tenant.tenant.id, limits: tenant.policy.limits, rooms: tenantRooms }], safety)
    const gated = scope.tenants.flatMap((runtime) =>
      gate(
        runtime,
        rooms.filter((room) => room.key.tenant === runtime.tenant.id),
      ),
    )

    const context = yield* Effect.context<DesiredState | Store>()
    const replan = (key: RoomKey): Effect.Effect<RoomPlan | undefined> =>
      Effect.gen(function* () {
        const runtime = scope.tenants.find((t) => t.tenant.id === key.tenant)
        const matrix = matrixOf.get(key.tenant)
        if (runtime === undefined || matrix === undefined) return undefined
        const desired = yield* desiredState.forTenant(runtime.tenant, runtime.policy, filterOf([key]))
        const outcome = desired.rooms[0]
        if (outcome === undefined) return undefined
        const fresh = yield* planOne(outcome, runtime, { joined: yield* matrix.joinedRooms, records }).pipe(
          Effect.provideService(Matrix, matrix),
        )
        // The caps apply to an adopted room too (the pass's budget is not shared with it).
        return fresh.plan === undefined ? undefined : gate(runtime, [fresh.plan])[0]
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed(
            conditionPlan(
              { key, alias: undefined, roomId: undefined },
              "error",
              error._tag === "DesiredStateError" ? error.message : describeMatrixError(error),
            ),
          ),
        ),
        Effect.provide(context),
      )
    const completeTenants = scope.rooms.length > 0 ? [] : planned.map((r) => r.tenant.id)
    return {
      plan: { rooms: gated },
      failedTenants,
      pendingHandles,
      completeTenants,
      unrecorded,
      details,
      matrixOf,
      replan,
    }
  }).pipe(Effect.withSpan("reconcile.plan"))

export type ActionOutcome =
  | { readonly result: "applied" }
  | { readonly result: "failed"; readonly error: string }
  | { readonly result: "not_attempted"; readonly error: string }

export interface AppliedAction {
  readonly key: RoomKey
  readonly roomId: string | undefined
  readonly action: PlannedAction
  readonly outcome: ActionOutcome
}

export interface ApplyResult {
  readonly actions: ReadonlyArray<AppliedAction>
  /** Each room's status after the pass, as recorded. */
  readonly rooms: ReadonlyArray<RoomPlan>
}

const runAction = (roomId: string, action: Action): Effect.Effect<void, MatrixRequestError, Matrix> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    switch (action.type) {
      case "create_room":
        return
      case "set_name":
        return yield* matrix.sendState(roomId, "m.room.name", { name: action.to })
      case "set_join_rule":
        return yield* matrix.sendState(roomId, "m.room.join_rules", { join_rule: action.to })
      case "set_history_visibility":
        return yield* matrix.sendState(roomId, "m.room.history_visibility", { history_visibility: action.to })
      case "set_guest_access":
        return yield* matrix.sendState(roomId, "m.room.guest_access", { guest_access: action.to })
      case "add_alias":
        return yield* matrix.addAlias(roomId, action.alias)
      case "set_canonical_alias":
        return yield* matrix.sendState(roomId, "m.room.canonical_alias", {
          alias: action.to,
          ...(action.altAliases.length > 0 ? { alt_aliases: action.altAliases } : {}),
        })
      case "set_power_levels":
      case "archive":
        return yield* matrix.sendState(roomId, "m.room.power_levels", action.content)
      case "invite":
        return yield* matrix.invite(roomId, action.user, action.reason)
      case "join":
        // A user can only join an invite-only room once invited.
        yield* matrix.invite(roomId, action.user, action.reason)
        return yield* matrix.joinAs(roomId, action.user)
      case "kick":
        return yield* matrix.kick(roomId, action.user, action.reason)
    }
  })

/**
 * Applies one room's actions in order (create → settings → power levels → invites → kicks).
 * The first failure stops the room: later actions may depend on it.
 */
const applyRoom = (
  room: RoomPlan,
  replan: PlanResult["replan"],
  retried = false,
): Effect.Effect<
  { readonly room: RoomPlan; readonly actions: ReadonlyArray<AppliedAction> },
  StoreError,
  Matrix | Store
> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    const store = yield* Store
    const actions = pendingActions(room)
    const results: Array<AppliedAction> = []
    let roomId = room.roomId
    let remaining = actions
    const create = actions.find((action) => action.type === "create_room")
    if (create?.type === "create_room") {
      // Invites ride along in the creation request: one request makes the whole room.
      const invites = actions.filter((a) => a.type === "invite")
      const created = yield* matrix
        .createRoom({
          alias: create.alias,
          name: create.name,
          joinRule: create.joinRule,
          historyVisibility: create.historyVisibility,
          guestAccess: create.guestAccess,
          users: create.users,
          invite: invites.flatMap((a) => (a.type === "invite" ? [a.user] : [])),
        })
        .pipe(Effect.either)
      if (created._tag === "Left") {
        const error: MatrixRequestError | AliasInUse = created.left
        if (error._tag === "AliasInUse" && !retried) {
          // Someone (an earlier, interrupted run) made the room meanwhile: adopt it.
          const fresh = yield* replan(room.key)
          return fresh === undefined ? { room, actions: [] } : yield* applyRoom(fresh, replan, true)
        }
        const message = describeMatrixError(error)
        return {
          room,
          actions: actions.map(
            (action, i): AppliedAction => ({
              key: room.key,
              roomId,
              action,
              outcome: i === 0 ? { result: "failed", error: message } : { result: "not_attempted", error: message },
            }),
          ),
        }
      }
      roomId = created.right
      // Remembered at once: the next pass finds the room by its record even if the alias changes.
      yield* store.recordRoom(room.key, roomId, room.alias)
      for (const action of [create, ...invites]) {
        results.push({ key: room.key, roomId, action, outcome: { result: "applied" } })
      }
      remaining = actions.filter((a) => a !== create && a.type !== "invite")
    }
    if (roomId !== undefined) {
      for (const [index, action] of remaining.entries()) {
        const outcome = yield* runAction(roomId, action).pipe(Effect.either)
        if (outcome._tag === "Left") {
          const message = describeMatrixError(outcome.left)
          results.push({ key: room.key, roomId, action, outcome: { result: "failed", error: message } })
          for (const skipped of remaining.slice(index + 1)) {
            results.push({
              key: room.key,
              roomId,
              action: skipped,
              outcome: { result: "not_attempted", error: `stopped after: ${message}` },
            })
          }
          break
        }
        results.push({ key: room.key, roomId, action, outcome: { result: "applied" } })
      }
    }
    return { room: { ...room, roomId }, actions: results }
  }).pipe(
    Effect.withSpan("reconcile.room", {
      attributes: {
        "room.key": formatRoomKey(room.key),
        tenant: room.key.tenant,
        kind: room.key.kind,
        actions: pendingActions(room).length,
      },
    }),
  )

const nothingApplied = (
  room: RoomPlan,
): { readonly room: RoomPlan; readonly actions: ReadonlyArray<AppliedAction> } => ({
  room,
  actions: [],
})

/** A room's status once its actions ran: what the next plan would most likely say. */
const statusAfter = (room: RoomPlan, actions: ReadonlyArray<AppliedAction>): RoomPlan => {
  const failed = actions.find((a) => a.outcome.result === "failed")
  if (failed !== undefined && failed.outcome.result === "failed") {
    return {
      ...room,
      status: "error",
      conditions: [
        ...room.conditions,
        { type: "error", message: `${failed.action.type} failed: ${failed.outcome.error}` },
      ],
    }
  }
  if (room.status === "error" || room.status === "blocked" || room.status === "orphan") return room
  return { ...room, status: room.actions.some((a) => a.held === true) ? "drifted" : "in_sync" }
}

/**
 * Applies a plan: rooms in parallel, each room's actions in order; records rooms, the
 * audit log (with the trace id) and each room's status in the reconciler's schema.
 */
export const applyPlan = (result: PlanResult, options: PassOptions): Effect.Effect<ApplyResult, StoreError, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const startedAt = new Date()
    for (const { key, roomId, alias } of result.unrecorded) yield* store.recordRoom(key, roomId, alias)
    let done = 0
    const toApply = result.plan.rooms.filter((room) => pendingActions(room).length > 0)
    const perRoom = yield* Effect.forEach(
      toApply,
      (room) => {
        const matrix = result.matrixOf.get(room.key.tenant)
        // Every planned room's tenant has its homeserver; a room without one has no actions.
        if (matrix === undefined) return Effect.succeed(nothingApplied(room))
        return applyRoom(room, result.replan).pipe(
          Effect.provideService(Matrix, matrix),
          Effect.tap(({ room: applied, actions }) =>
            Effect.gen(function* () {
              const span = yield* Effect.currentSpan.pipe(Effect.option)
              const traceId = Option.map(span, (s) => s.traceId).pipe(Option.getOrUndefined)
              yield* store.audit(
                actions.map((a) => ({
                  key: a.key,
                  roomId: a.roomId,
                  action: a.action,
                  result: a.outcome.result,
                  error: a.outcome.result === "applied" ? undefined : a.outcome.error,
                  traceId,
                })),
              )
              done += 1
              yield* Effect.logInfo(`${formatRoomKey(applied.key)}: ${actions.length} action(s)`).pipe(
                Effect.annotateLogs({ "room.key": formatRoomKey(applied.key) }),
              )
              yield* options.onProgress?.(done, toApply.length) ?? Effect.void
            }),
          ),
        )
      },
      { concurrency: options.concurrency },
    )
    const appliedKeys = new Map(perRoom.map((r) => [formatRoomKey(r.room.key), r]))
    const rooms = result.plan.rooms.map((room) => {
      const applied = appliedKeys.get(formatRoomKey(room.key))
      return applied === undefined ? statusAfter(room, []) : statusAfter(applied.room, applied.actions)
    })
    const actions = perRoom.flatMap((r) => r.actions)
    yield* store.recordStatus(rooms, result.completeTenants)
    if (options.recordPass === false) return { actions, rooms }
    yield* store.recordPass({
      startedAt,
      rooms: rooms.length,
      applied: actions.filter((a) => a.outcome.result === "applied").length,
      failed: actions.filter((a) => a.outcome.result !== "applied").length,
    })
    return { actions, rooms }
  }).pipe(Effect.withSpan("reconcile.apply"))
