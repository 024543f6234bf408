import type { RoomKey } from "@openmeet-reconciler/core"
import { formatRoomKey, Telemetry } from "@openmeet-reconciler/core"
import type { Homeservers } from "@openmeet-reconciler/matrix"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect } from "effect"
import type { AppliedAction, ApplyResult } from "./Apply.ts"
import { applyPlan } from "./Apply.ts"
import type { PassOptions, PlanResult, Scope } from "./Pass.ts"
import { planPass } from "./PlanPass.ts"
import type { Store, StoreError } from "./Store.ts"

/** Counts a pass's actions in `reconciler_actions_total`: applied ones by result, held ones, a dry run's. */
export const countActions = (result: PlanResult, applied: ReadonlyArray<AppliedAction>, dryRun: boolean) =>
  Effect.flatMap(Telemetry, (telemetry) =>
    Effect.sync(() => {
      for (const { action, outcome } of applied) telemetry.action(action.type, outcome.result)
      for (const room of result.plan.rooms) {
        for (const action of room.actions) {
          if (action.held === true) telemetry.action(action.type, "held")
          else if (dryRun) telemetry.action(action.type, "dry_run")
        }
      }
    }),
  )

/** Rounds a CLI `apply` gives keys whose plan no longer held when applied (their alias was taken meanwhile). */
const maxRounds = 3

/**
 * Applies a plan as `apply` does: for keys whose plan no longer held when applied (their
 * alias was taken meanwhile), plans and applies again from fresh state (the loop is
 * level-triggered), a few rounds at most. Returns every action applied.
 */
export const reconcileAgain = (
  result: PlanResult,
  options: PassOptions,
): Effect.Effect<{ readonly applied: ApplyResult }, StoreError, DesiredState | Homeservers | Store> =>
  Effect.gen(function* () {
    const scope = result.scope
    let applied = yield* applyPlan(result, options)
    let requeue: ReadonlyArray<RoomKey> = applied.requeue
    for (let round = 1; round < maxRounds && requeue.length > 0; round++) {
      const again = yield* planPass({ tenants: scope.tenants, rooms: requeue }, options)
      const next = yield* applyPlan(again, { ...options, recordPass: false })
      const replanned = new Set(next.rooms.map((room) => formatRoomKey(room.key)))
      applied = {
        actions: [...applied.actions, ...next.actions],
        rooms: [...applied.rooms.filter((room) => !replanned.has(formatRoomKey(room.key))), ...next.rooms],
        requeue: next.requeue,
      }
      requeue = next.requeue
    }
    return { applied }
  })

/** One reconcile of a scope, as `apply` runs it: plan, then apply (see `reconcileAgain`). */
export const reconcile = (
  scope: Scope,
  options: PassOptions,
): Effect.Effect<
  { readonly result: PlanResult; readonly applied: ApplyResult },
  StoreError,
  DesiredState | Homeservers | Store
> =>
  Effect.gen(function* () {
    const result = yield* planPass(scope, options)
    const { applied } = yield* reconcileAgain(result, options)
    return { result, applied }
  })
