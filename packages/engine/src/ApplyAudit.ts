import type { PlannedAction, RoomKey, RoomPlan } from "@openmeet-reconciler/core"
import { Effect, type Either, Fiber, Option } from "effect"
import type { StoreError } from "./Store.ts"
import { Store } from "./Store.ts"

/*
 * The audit trail of an apply: what each action's outcome was, and the rows that record
 * it, written ahead of the request and closed with its answer.
 */

export type ActionOutcome =
  | { readonly result: "applied" }
  | { readonly result: "failed"; readonly error: string }
  | { readonly result: "not_attempted"; readonly error: string }
  /** The room's state moved under the plan (its alias was taken meanwhile): the key is planned again. */
  | { readonly result: "requeued"; readonly error: string }

export interface AppliedAction {
  readonly key: RoomKey
  readonly roomId: string | undefined
  readonly action: PlannedAction
  readonly outcome: ActionOutcome
}

/**
 * Runs a Matrix request, then `settle` with its outcome (the audit rows). The request may be
 * interrupted (it is then aborted, not left to land); once the homeserver answered, `settle`
 * runs to its end even if the fiber is interrupted meanwhile, in the background then (a
 * replica stepping down never waits on the database): no action that took effect misses
 * its audit row.
 */
export const settled = <A, E, R, B, E2, R2>(
  request: Effect.Effect<A, E, R>,
  settle: (outcome: Either.Either<A, E>) => Effect.Effect<B, E2, R2>,
): Effect.Effect<B, E2, R | R2> =>
  Effect.uninterruptibleMask((restore) =>
    restore(request).pipe(
      Effect.either,
      Effect.flatMap((outcome) => Effect.forkDaemon(settle(outcome))),
      Effect.flatMap((fiber) => restore(Fiber.join(fiber))),
    ),
  )

export const each = (
  room: RoomPlan,
  roomId: string | undefined,
  actions: ReadonlyArray<PlannedAction>,
  outcome: ActionOutcome,
) => actions.map((action): AppliedAction => ({ key: room.key, roomId, action, outcome }))

/** The trace an action runs in, for its audit row. */
const currentTraceId = Effect.currentSpan.pipe(
  Effect.option,
  Effect.map((span) => Option.map(span, (s) => s.traceId).pipe(Option.getOrUndefined)),
)

const entries = (actions: ReadonlyArray<AppliedAction>, traceId: string | undefined) =>
  actions.map((a) => ({
    key: a.key,
    roomId: a.roomId,
    action: a.action,
    result: a.outcome.result,
    error: a.outcome.result === "applied" ? undefined : a.outcome.error,
    traceId,
  }))

/** Writes the audit rows of actions that were never sent (not attempted, requeued). */
export const audit = (actions: ReadonlyArray<AppliedAction>) =>
  Effect.gen(function* () {
    yield* (yield* Store).audit(entries(actions, yield* currentTraceId))
  })

/**
 * The persisted states (StoreStates.ts) an action makes stale: its room's, and for an alias
 * it creates or moves, the alias's (persisted as free) and the room it comes from.
 */
export const staleBy = (roomId: string | undefined, actions: ReadonlyArray<PlannedAction>): ReadonlyArray<string> => [
  ...new Set([
    ...(roomId === undefined ? [] : [roomId]),
    ...actions.flatMap((action) =>
      action.type === "create_room"
        ? [action.alias]
        : action.type === "add_alias"
          ? [action.alias, ...(action.from === undefined ? [] : [action.from])]
          : [],
    ),
  ]),
]

/**
 * Writes the rows of actions about to be sent, as `started`, before the request: a process
 * killed while the homeserver applies them leaves open rows (closed as `interrupted` by the
 * next lock holder), never a write without a row. `finish` closes them with the outcome.
 *
 * In the same breath, before the request, the persisted states the actions make stale are
 * invalidated: a leader killed after its write but before it read the room again, while
 * the transaction that tells of the write has not reached a replica yet, would otherwise
 * leave its successor a state from before the write, and the write would be made twice.
 */
export interface Sent {
  readonly finish: (outcomes: ReadonlyArray<AppliedAction>) => Effect.Effect<void, StoreError>
}

export const begin = (
  room: RoomPlan,
  roomId: string | undefined,
  actions: ReadonlyArray<PlannedAction>,
): Effect.Effect<Sent, StoreError, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    const traceId = yield* currentTraceId
    const [ids] = yield* Effect.all(
      [
        store.auditStart(entries(each(room, roomId, actions, { result: "applied" }), traceId)),
        store.invalidateStates(staleBy(roomId, actions)),
      ],
      { concurrency: 2 },
    )
    return {
      finish: (outcomes: ReadonlyArray<AppliedAction>) =>
        store.auditFinish(
          outcomes.map((a, index) => ({
            id: ids[index] ?? "",
            result: a.outcome.result,
            error: a.outcome.result === "applied" ? undefined : a.outcome.error,
          })),
        ),
    }
  })
