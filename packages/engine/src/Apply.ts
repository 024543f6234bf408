import type { RoomKey, RoomPlan } from "@openmeet-reconciler/core"
import { destructiveUnits, formatRoomKey, pendingActions } from "@openmeet-reconciler/core"
import type { AliasInUse, MatrixRequestError } from "@openmeet-reconciler/matrix"
import { describeMatrixError, type Homeservers, Matrix } from "@openmeet-reconciler/matrix"
import { Effect, Either } from "effect"
import { runAction } from "./Actions.ts"
import type { AppliedAction, Sent } from "./ApplyAudit.ts"
import { audit, begin, each, settled } from "./ApplyAudit.ts"
import type { PassOptions, PlanResult } from "./Pass.ts"
import { homeserverOf } from "./Pass.ts"
import type { StoreError } from "./Store.ts"
import { Store } from "./Store.ts"

export type { ActionOutcome, AppliedAction } from "./ApplyAudit.ts"

export interface ApplyResult {
  readonly actions: ReadonlyArray<AppliedAction>
  /** Each room's status after the pass, as recorded. */
  readonly rooms: ReadonlyArray<RoomPlan>
  /** Keys whose plan no longer held when applied: plan them again (the loop is level-triggered). */
  readonly requeue: ReadonlyArray<RoomKey>
}

/**
 * Applies one room's actions in order (create → settings → power levels → invites → kicks),
 * each audited as soon as it ran, so an interruption loses no record of what was done.
 * The first failure stops the room: later actions may depend on it.
 */
const applyRoom = (room: RoomPlan): Effect.Effect<ReadonlyArray<AppliedAction>, StoreError, Matrix | Store> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    const store = yield* Store
    const actions = pendingActions(room)
    const results: Array<AppliedAction> = []
    const done = (applied: ReadonlyArray<AppliedAction>) => Effect.sync(() => results.push(...applied))
    const record = (applied: ReadonlyArray<AppliedAction>) => audit(applied).pipe(Effect.zipRight(done(applied)))
    /** Closes rows written ahead with their outcomes (`begin`). */
    const close = (sent: Sent, outcomes: ReadonlyArray<AppliedAction>) =>
      sent.finish(outcomes).pipe(Effect.zipRight(done(outcomes)))
    let roomId = room.roomId
    let remaining = actions
    const create = actions.find((action) => action.type === "create_room")
    if (create?.type === "create_room") {
      // Invites ride along in the creation request: one request makes the whole room.
      const invites = actions.filter((a) => a.type === "invite")
      const rest = actions.filter((a) => a !== create && a.type !== "invite")
      const sent = yield* begin(room, roomId, [create, ...invites])
      const creation = (invite: ReadonlyArray<string>) =>
        matrix.createRoom({
          alias: create.alias,
          name: create.name,
          joinRule: create.joinRule,
          historyVisibility: create.historyVisibility,
          guestAccess: create.guestAccess,
          users: create.users,
          invite,
        })
      const request = creation(invites.flatMap((a) => (a.type === "invite" ? [a.user] : []))).pipe(
        Effect.map((id) => ({ id, alone: false })),
        // A rate-limited bot's creation carrying more invites than its invite limit allows at
        // once is refused with 400 ("Cannot invite so many users at once", never a 429): the
        // room is created alone and the invites go one by one, each waiting out its 429.
        Effect.catchIf(
          (error) => error._tag === "MatrixRejected" && error.status === 400 && invites.length > 0,
          () => creation([]).pipe(Effect.map((id) => ({ id, alone: true }))),
        ),
      )
      const created = yield* settled(request, (outcome) =>
        Effect.gen(function* () {
          if (Either.isLeft(outcome)) {
            const error: MatrixRequestError | AliasInUse = outcome.left
            // Someone (an earlier, interrupted run; OpenMeet's lazy creation) made the room meanwhile.
            if (error._tag === "AliasInUse") {
              const taken = { result: "requeued", error: `alias ${error.alias} is taken now` } as const
              yield* close(sent, each(room, roomId, [create, ...invites], taken))
              yield* record(each(room, roomId, rest, taken))
              return undefined
            }
            const message = describeMatrixError(error)
            yield* close(sent, [
              ...each(room, roomId, [create], { result: "failed", error: message }),
              ...each(room, roomId, invites, { result: "not_attempted", error: message }),
            ])
            yield* record(each(room, roomId, rest, { result: "not_attempted", error: message }))
            return undefined
          }
          const id = outcome.right.id
          // Remembered at once: the next pass finds the room by its record even if the alias changes.
          yield* store.recordRoom(room.key, id, room.alias)
          if (!outcome.right.alone) {
            yield* close(sent, each(room, id, [create, ...invites], { result: "applied" }))
            return outcome.right
          }
          const applied = each(room, id, [create], { result: "applied" })
          // The invite rows of the refused request are closed, not reported: each invite follows on its own.
          const separate = each(room, id, invites, {
            result: "not_attempted",
            error: "the homeserver refused these invites inside the creation (rate limit); sent one by one",
          })
          yield* sent.finish([...applied, ...separate])
          yield* done(applied)
          return outcome.right
        }),
      )
      if (created === undefined) return results
      roomId = created.id
      remaining = created.alone ? actions.filter((a) => a !== create) : rest
    }
    if (roomId === undefined) return results
    const id = roomId
    for (const [index, action] of remaining.entries()) {
      const sent = yield* begin(room, id, [action])
      const stopped = yield* settled(runAction(id, action), (outcome) => {
        if (Either.isRight(outcome))
          return close(sent, each(room, id, [action], { result: "applied" })).pipe(Effect.as(false))
        const message = describeMatrixError(outcome.left)
        return close(sent, each(room, id, [action], { result: "failed", error: message })).pipe(
          Effect.zipRight(
            record(
              each(room, id, remaining.slice(index + 1), {
                result: "not_attempted",
                error: `stopped after: ${message}`,
              }),
            ),
          ),
          Effect.as(true),
        )
      })
      if (stopped) return results
    }
    return results
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

/** A room's status once its actions ran: what the next plan would most likely say. */
const statusAfter = (room: RoomPlan, actions: ReadonlyArray<AppliedAction>): RoomPlan => {
  const roomId = room.roomId ?? actions.find((a) => a.roomId !== undefined)?.roomId
  const failed = actions.find((a) => a.outcome.result === "failed")
  if (failed !== undefined && failed.outcome.result === "failed") {
    return {
      ...room,
      roomId,
      status: "error",
      conditions: [
        ...room.conditions,
        { type: "error", message: `${failed.action.type} failed: ${failed.outcome.error}` },
      ],
    }
  }
  if (actions.some((a) => a.outcome.result === "requeued")) return { ...room, roomId }
  if (room.status === "error" || room.status === "blocked" || room.status === "orphan") return { ...room, roomId }
  return { ...room, roomId, status: room.actions.some((a) => a.held === true) ? "drifted" : "in_sync" }
}

/**
 * Applies a plan: rooms in parallel, each room's actions in order; records rooms, the audit
 * log (with the trace id) and each room's status in the reconciler's schema. Destructive
 * units reserved for actions that did not run go back to the budget they came from.
 */
export const applyPlan = (
  result: PlanResult,
  options: PassOptions,
): Effect.Effect<ApplyResult, StoreError, Store | Homeservers> =>
  Effect.gen(function* () {
    const store = yield* Store
    const startedAt = new Date()
    for (const { key, roomId, alias } of result.unrecorded) yield* store.recordRoom(key, roomId, alias)
    const runtimes = new Map(result.scope.tenants.map((r) => [r.tenant.id, r]))
    let done = 0
    const toApply = result.plan.rooms.filter((room) => pendingActions(room).length > 0)
    const perRoom = yield* Effect.forEach(
      toApply,
      (room) =>
        Effect.gen(function* () {
          const runtime = runtimes.get(room.key.tenant)
          // Every planned room's tenant has a homeserver; one that went away fails its rooms.
          const matrix = runtime === undefined ? undefined : yield* homeserverOf(runtime).pipe(Effect.either)
          if (matrix === undefined || Either.isLeft(matrix)) {
            const error = matrix === undefined ? "no such tenant" : describeMatrixError(matrix.left)
            return { room, actions: each(room, room.roomId, pendingActions(room), { result: "not_attempted", error }) }
          }
          const actions = yield* applyRoom(room).pipe(Effect.provideService(Matrix, matrix.right))
          yield* Effect.logInfo(`${formatRoomKey(room.key)}: ${actions.length} action(s)`).pipe(
            Effect.annotateLogs({ "room.key": formatRoomKey(room.key) }),
          )
          yield* options.onProgress?.(++done, toApply.length) ?? Effect.void
          return { room, actions }
        }),
      { concurrency: options.concurrency },
    )
    const byKey = new Map(perRoom.map((r) => [formatRoomKey(r.room.key), r.actions]))
    const rooms = result.plan.rooms.map((room) => statusAfter(room, byKey.get(formatRoomKey(room.key)) ?? []))
    const actions = perRoom.flatMap((r) => r.actions)
    yield* refund(result, actions, options)
    yield* store.recordStatus(rooms, result.completeTenants)
    const requeue = perRoom.filter((r) => r.actions.some((a) => a.outcome.result === "requeued")).map((r) => r.room.key)
    if (options.recordPass !== false) {
      yield* store.recordPass({
        startedAt,
        rooms: rooms.length,
        applied: actions.filter((a) => a.outcome.result === "applied").length,
        failed: actions.filter((a) => a.outcome.result === "failed" || a.outcome.result === "not_attempted").length,
      })
    }
    return { actions, rooms, requeue }
  }).pipe(Effect.withSpan("reconcile.apply"))

/** Returns to the shared budget the units reserved for destructive actions that did not run. */
const refund = (result: PlanResult, actions: ReadonlyArray<AppliedAction>, options: PassOptions) =>
  Effect.gen(function* () {
    if (options.budget === undefined) return
    const unspent = new Map<string, number>()
    for (const { key, action, outcome } of actions) {
      if (outcome.result === "applied") continue
      unspent.set(key.tenant, (unspent.get(key.tenant) ?? 0) + destructiveUnits(action))
    }
    for (const [tenant, units] of unspent) {
      const reservation = result.reserved.get(tenant)
      if (reservation === undefined) continue
      yield* options.budget.refund(tenant, { units: Math.min(units, reservation.units), window: reservation.window })
    }
  })
