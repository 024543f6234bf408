import type { Action, LevelChange, PowerLevelsWrite } from "./Action.ts"
import { isPowerLevelsWrite } from "./Action.ts"
import type { PlannedAction, RoomPlan } from "./Plan.ts"
import type { Limits } from "./Policy.ts"
import { isRecord } from "./Record.ts"

export interface SafetyOptions {
  /** `--confirm-destructive`: apply every destructive action, none is held. */
  readonly confirmDestructive: boolean
  /** `--allow-empty`: a tenant whose desired state is empty may still have kicks applied. */
  readonly allowEmpty: boolean
}

/** A tenant's rooms, planned, with the tenant's limits. */
export interface TenantPlan {
  readonly tenant: string
  readonly limits: Limits
  readonly rooms: ReadonlyArray<RoomPlan>
}

/** Destructive units of an action: each kick, each lowered level. */
export const destructiveUnits = (action: Action): number =>
  action.type === "kick"
    ? 1
    : isPowerLevelsWrite(action)
      ? Object.values(action.changes).filter((change) => change.to < change.from).length
      : 0

/**
 * A tenant that should be empty while Matrix is not is suspect (a truncated table, a
 * wrong schema): none of its destructive actions runs without `--allow-empty`.
 */
export const isSuspectEmpty = (plan: TenantPlan): boolean =>
  plan.rooms.length > 0 &&
  plan.rooms.every((room) => room.entitledCount === 0) &&
  plan.rooms.some((room) => room.memberCount > 0)

/** Splits a power-levels write: the demotions kept back leave their users where they are. */
const holdDemotions = (action: PowerLevelsWrite, hold: ReadonlySet<string>): ReadonlyArray<PlannedAction> => {
  const kept: Record<string, LevelChange> = {}
  const held: Record<string, LevelChange> = {}
  const users: Record<string, unknown> = { ...(isRecord(action.content.users) ? action.content.users : {}) }
  for (const [user, change] of Object.entries(action.changes)) {
    if (hold.has(user)) {
      held[user] = change
      // A demotion starts above 0, so the user had an entry: it stays as it was.
      users[user] = change.from
    } else {
      kept[user] = change
    }
  }
  const out: Array<PlannedAction> = []
  if (Object.keys(kept).length > 0) out.push({ ...action, changes: kept, content: { ...action.content, users } })
  out.push({ ...action, changes: held, held: true })
  return out
}

/**
 * The safety gate of policy.md §5: destructive actions beyond the per-room cap (the
 * larger of `maxDestructivePerRoom` and `maxDestructiveRoomFraction` of the members)
 * or the per-pass cap, and every destructive action of a suspect-empty tenant, are
 * marked `held`. Rooms are served in plan order, actions in their room's order.
 */
export const applySafety = (tenants: ReadonlyArray<TenantPlan>, options: SafetyOptions): ReadonlyArray<RoomPlan> => {
  const out: Array<RoomPlan> = []
  for (const tenant of tenants) {
    const suspect = !options.allowEmpty && isSuspectEmpty(tenant)
    let passBudget = options.confirmDestructive ? Number.POSITIVE_INFINITY : tenant.limits.maxDestructivePerPass
    for (const room of tenant.rooms) {
      let roomBudget = options.confirmDestructive
        ? Number.POSITIVE_INFINITY
        : Math.max(
            tenant.limits.maxDestructivePerRoom,
            Math.floor(tenant.limits.maxDestructiveRoomFraction * room.memberCount),
          )
      const actions: Array<PlannedAction> = []
      for (const action of room.actions) {
        const units = destructiveUnits(action)
        if (units === 0) {
          actions.push(action)
          continue
        }
        if (suspect) {
          actions.push({ ...action, held: true })
          continue
        }
        if (isPowerLevelsWrite(action)) {
          const hold = new Set<string>()
          for (const [user, change] of Object.entries(action.changes)) {
            if (change.to >= change.from) continue
            if (roomBudget > 0 && passBudget > 0) {
              roomBudget -= 1
              passBudget -= 1
            } else {
              hold.add(user)
            }
          }
          actions.push(...(hold.size === 0 ? [action] : holdDemotions(action, hold)))
          continue
        }
        if (roomBudget > 0 && passBudget > 0) {
          roomBudget -= 1
          passBudget -= 1
          actions.push(action)
        } else {
          actions.push({ ...action, held: true })
        }
      }
      out.push({ ...room, actions })
    }
  }
  return out
}
