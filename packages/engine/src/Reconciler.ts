import type {
  Action,
  ActualRoom,
  DesiredOutcome,
  Plan,
  PlannedAction,
  Policy,
  RoomContext,
  RoomKey,
  RoomPlan,
  SafetyOptions,
} from "@openmeet-reconciler/core"
import {
  applySafety,
  compareRoomPlans,
  conditionPlan,
  formatRoomKey,
  pendingActions,
  planRoom,
} from "@openmeet-reconciler/core"
import type { AliasInUse, MatrixRequestError } from "@openmeet-reconciler/matrix"
import { describeMatrixError, Matrix } from "@openmeet-reconciler/matrix"
import type { DesiredFilter, Tenant } from "@openmeet-reconciler/openmeet"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect } from "effect"

/** One tenant as the reconciler runs it. */
export interface TenantRuntime {
  readonly tenant: Tenant
  readonly policy: Policy
  readonly botUserId: string
}

/** What a pass looks at: these tenants, or only these rooms of them. */
export interface Scope {
  readonly tenants: ReadonlyArray<TenantRuntime>
  /** When non-empty, only these rooms. */
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
  /** Re-plans one room from fresh state (after a lost race, e.g. an alias taken meanwhile). */
  readonly replan: (key: RoomKey) => Effect.Effect<RoomPlan | undefined>
}

export interface PassOptions {
  /** Rooms read or written at once (Synapse gains from about 4). */
  readonly concurrency: number
  /** Which destructive actions may run (policy.md §5); by default the caps hold the rest. */
  readonly safety?: SafetyOptions
  readonly onProgress?: (done: number, total: number) => Effect.Effect<void>
}

const errorPlan = (where: Pick<RoomPlan, "key" | "alias" | "roomId">, message: string): RoomPlan =>
  conditionPlan(where, "error", message)

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

/** Finds the room of a key: the row's `"matrixRoomId"` when the bot is in it, then the alias. */
const identifyRoom = (
  outcome: DesiredOutcome & { readonly _tag: "Desired" },
  joined: ReadonlySet<string>,
): Effect.Effect<string | undefined, MatrixRequestError, Matrix> =>
  Effect.gen(function* () {
    const hint = outcome.room.roomIdHint
    if (hint !== undefined && joined.has(hint)) return hint
    const matrix = yield* Matrix
    return yield* matrix.resolveAlias(outcome.room.alias)
  })

/** Reads Matrix for one desired room and plans it. */
const planOne = (
  outcome: DesiredOutcome,
  runtime: TenantRuntime,
  joined: ReadonlySet<string>,
): Effect.Effect<RoomPlan | undefined, never, Matrix> => {
  const key = outcome._tag === "Desired" ? outcome.room.key : outcome.key
  const context = contextOf(runtime, key)
  if (outcome._tag === "Failed") return Effect.succeed(planRoom(outcome, undefined, context))
  const base = { key, alias: outcome.room.alias, roomId: undefined }
  return Effect.gen(function* () {
    const matrix = yield* Matrix
    const roomId = yield* identifyRoom(outcome, joined)
    if (roomId === undefined) return planRoom(outcome, undefined, context)
    if (!joined.has(roomId)) {
      return conditionPlan({ ...base, roomId }, "blocked", `the bot is not in room ${roomId}, which has the alias`)
    }
    const actual: ActualRoom = yield* matrix.readRoom(roomId)
    return planRoom(outcome, actual, context)
  }).pipe(
    Effect.catchAll((error) => Effect.succeed(errorPlan(base, `reading Matrix failed: ${describeMatrixError(error)}`))),
    Effect.withSpan("reconcile.room.plan", { attributes: { "room.key": formatRoomKey(key) } }),
  )
}

/** Computes the plan for a scope: desired from OpenMeet, actual from Matrix, diff by the pure planner. */
export const planPass = (scope: Scope, options: PassOptions): Effect.Effect<PlanResult, never, DesiredState | Matrix> =>
  Effect.gen(function* () {
    const desiredState = yield* DesiredState
    const matrix = yield* Matrix
    const safety = options.safety ?? { confirmDestructive: false, allowEmpty: false }
    const failedTenants: Array<TenantFailure> = []
    const pendingHandles = new Map<string, number>()
    const work: Array<{ readonly outcome: DesiredOutcome; readonly runtime: TenantRuntime }> = []

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
      pendingHandles.set(runtime.tenant.id, result.right.pendingHandles)
      for (const outcome of result.right.rooms) work.push({ outcome, runtime })
    }

    const joined = yield* matrix.joinedRooms.pipe(Effect.either)
    if (joined._tag === "Left") {
      // Without Matrix nothing can be compared; every room is an error, none is acted on.
      const message = `reading Matrix failed: ${describeMatrixError(joined.left)}`
      const rooms = work.map(({ outcome }) =>
        outcome._tag === "Desired"
          ? errorPlan({ key: outcome.room.key, alias: outcome.room.alias, roomId: undefined }, message)
          : errorPlan({ key: outcome.key, alias: outcome.alias, roomId: undefined }, message),
      )
      return { plan: { rooms }, failedTenants, pendingHandles, replan: () => Effect.succeed(undefined) }
    }

    let done = 0
    const rooms = yield* Effect.forEach(
      work,
      ({ outcome, runtime }) =>
        planOne(outcome, runtime, joined.right).pipe(
          Effect.tap(() => {
            done += 1
            return options.onProgress?.(done, work.length) ?? Effect.void
          }),
        ),
      { concurrency: options.concurrency },
    )
    const planned = rooms.filter((room): room is RoomPlan => room !== undefined).sort(compareRoomPlans)
    const gated = applySafety(
      scope.tenants.map((runtime) => ({
        tenant: runtime.tenant.id,
        limits: runtime.policy.limits,
        rooms: planned.filter((room) => room.key.tenant === runtime.tenant.id),
      })),
      safety,
    )

    const context = yield* Effect.context<DesiredState | Matrix>()
    const replan = (key: RoomKey): Effect.Effect<RoomPlan | undefined> =>
      Effect.gen(function* () {
        const runtime = scope.tenants.find((t) => t.tenant.id === key.tenant)
        if (runtime === undefined) return undefined
        const desired = yield* desiredState.forTenant(runtime.tenant, runtime.policy, filterOf([key]))
        const outcome = desired.rooms[0]
        if (outcome === undefined) return undefined
        const nowJoined = yield* matrix.joinedRooms
        const fresh = yield* planOne(outcome, runtime, nowJoined)
        if (fresh === undefined) return undefined
        // The caps apply to an adopted room too (the pass's budget is not shared with it).
        const [gatedRoom] = applySafety(
          [{ tenant: runtime.tenant.id, limits: runtime.policy.limits, rooms: [fresh] }],
          safety,
        )
        return gatedRoom
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed(
            errorPlan(
              { key, alias: undefined, roomId: undefined },
              error._tag === "DesiredStateError" ? error.message : describeMatrixError(error),
            ),
          ),
        ),
        Effect.provide(context),
      )
    return { plan: { rooms: gated }, failedTenants, pendingHandles, replan }
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
        return yield* matrix.sendState(roomId, "m.room.history_visibility", {
          history_visibility: action.to,
        })
      case "set_guest_access":
        return yield* matrix.sendState(roomId, "m.room.guest_access", { guest_access: action.to })
      case "set_canonical_alias":
        return yield* matrix.sendState(roomId, "m.room.canonical_alias", {
          alias: action.to,
          ...(action.altAliases.length > 0 ? { alt_aliases: action.altAliases } : {}),
        })
      case "set_power_levels":
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
): Effect.Effect<ReadonlyArray<AppliedAction>, never, Matrix> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
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
          return fresh === undefined ? [] : yield* applyRoom(fresh, replan, true)
        }
        const message = describeMatrixError(error)
        return actions.map(
          (action, i): AppliedAction => ({
            key: room.key,
            roomId,
            action,
            outcome: i === 0 ? { result: "failed", error: message } : { result: "not_attempted", error: message },
          }),
        )
      }
      roomId = created.right
      for (const action of [create, ...invites])
        results.push({ key: room.key, roomId, action, outcome: { result: "applied" } })
      remaining = actions.filter((a) => a !== create && a.type !== "invite")
    }
    if (roomId === undefined) return results
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
    return results
  }).pipe(
    Effect.withSpan("reconcile.room", {
      attributes: { "room.key": formatRoomKey(room.key), tenant: room.key.tenant, kind: room.key.kind },
    }),
  )

/** Applies a plan: rooms in parallel, each room's actions in order. */
export const applyPlan = (result: PlanResult, options: PassOptions): Effect.Effect<ApplyResult, never, Matrix> =>
  Effect.gen(function* () {
    const rooms = result.plan.rooms.filter((room) => pendingActions(room).length > 0)
    let done = 0
    const perRoom = yield* Effect.forEach(
      rooms,
      (room) =>
        applyRoom(room, result.replan).pipe(
          Effect.tap(() => {
            done += 1
            return options.onProgress?.(done, rooms.length) ?? Effect.void
          }),
        ),
      { concurrency: options.concurrency },
    )
    return { actions: perRoom.flat() }
  }).pipe(Effect.withSpan("reconcile.cycle"))
