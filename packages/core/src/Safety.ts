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
  /** Destructive units the tenant may still spend (default: `maxDestructivePerPass`). */
  readonly budget?: number
  /**
   * Whether the tenant's whole desired state entitles nobody (default: judged from `rooms`,
   * which is right only when they are all of the tenant's rooms).
   */
  readonly desiredEmpty?: boolean
}

/** Destructive units of an action: each kick, each lowered level, an archive. */
export const destructiveUnits = (action: Action): number =>
  action.type === "kick"
    ? 1
    : isPowerLevelsWrite(action)
      ? // Stryker disable next-line EqualityOperator: `<=` is equivalent (planPowerLevels never lists a change whose level stays); `>=`, disabled with it, was killed (first run)
        Object.values(action.changes).filter((change) => change.to < change.from).length +
        (action.type === "archive" ? 1 : 0)
      : 0

/**
 * A tenant that should be empty while Matrix is not is suspect (a truncated table, a
 * wrong schema): none of its destructive actions runs without `--allow-empty`.
 */
export const isSuspectEmpty = (plan: TenantPlan): boolean =>
  plan.rooms.some((room) => room.memberCount > 0) &&
  // A room with members exists here, so `every` never judges an empty list.
  (plan.desiredEmpty ?? plan.rooms.every((room) => room.entitledCount === 0))

/** Splits a power-levels write: the demotions kept back leave their users where they are. */
const holdDemotions = (action: PowerLevelsWrite, hold: ReadonlySet<string>): ReadonlyArray<PlannedAction> => {
  const kept: Record<string, LevelChange> = {}
  const held: Record<string, LevelChange> = {}
  const users: Record<string, unknown> = { ...(isRecord(action.content.users) ? action.content.users : {}) }
  for (const [user, change] of Object.entries(action.changes)) {
    if (hold.has(user)) {
      held[user] = change
      // A demotion starts above the default, so the user had an entry: it stays as it was.
      users[user] = change.from
    } else {
      kept[user] = change
    }
  }
  const out: Array<PlannedAction> = []
  // An archive whose own unit was spent goes ahead with the changes not held.
  if (Object.keys(kept).length > 0 || action.type === "archive") {
    out.push({ ...action, changes: kept, content: { ...action.content, users } })
  }
  // What waits is only the demotions: an archive's own unit went with the kept part.
  out.push(
    action.type === "archive"
      ? { type: "set_power_levels", changes: held, content: action.content, reason: action.reason, held: true }
      : { ...action, changes: held, held: true },
  )
  return out
}

/** The gate's verdict for one tenant: its rooms with held actions marked, and the units it let through. */
export interface GatedTenant {
  readonly rooms: ReadonlyArray<RoomPlan>
  readonly units: number
}

/**
 * The safety gate of policy.md §5 for one tenant: destructive actions beyond the per-room
 * cap (the larger of `maxDestructivePerRoom` and `maxDestructiveRoomFraction` of the
 * members) or the tenant's budget, and every destructive action of a suspect-empty
 * tenant, are marked `held`. Rooms are served in plan order, actions in their room's order.
 */
export const gateTenant = (tenant: TenantPlan, options: SafetyOptions): GatedTenant => {
  const suspect = !options.allowEmpty && isSuspectEmpty(tenant)
  let budget = options.confirmDestructive
    ? Number.POSITIVE_INFINITY
    : Math.max(0, tenant.budget ?? tenant.limits.maxDestructivePerPass)
  let units = 0
  const rooms = tenant.rooms.map((room): RoomPlan => {
    let roomBudget = options.confirmDestructive
      ? Number.POSITIVE_INFINITY
      : Math.max(
          tenant.limits.maxDestructivePerRoom,
          Math.floor(tenant.limits.maxDestructiveRoomFraction * room.memberCount),
        )
    const spend = (): boolean => {
      if (suspect || roomBudget <= 0 || budget <= 0) return false
      roomBudget -= 1
      budget -= 1
      units += 1
      return true
    }
    const actions: Array<PlannedAction> = []
    for (const action of room.actions) {
      if (destructiveUnits(action) === 0) {
        actions.push(action)
      } else if (action.type === "archive" && !spend()) {
        // An archive kept back keeps the whole write back: its content raises events_default.
        actions.push({ ...action, held: true })
      } else if (isPowerLevelsWrite(action)) {
        const hold = new Set<string>()
        for (const [user, change] of Object.entries(action.changes)) {
          // Stryker disable next-line EqualityOperator: `<=` is equivalent (planPowerLevels never lists a change whose level stays); `>=`, disabled with it, was killed (first run)
          if (change.to < change.from && !spend()) hold.add(user)
        }
        actions.push(...(hold.size === 0 ? [action] : holdDemotions(action, hold)))
      } else {
        actions.push(spend() ? action : { ...action, held: true })
      }
    }
    return { ...room, actions }
  })
  return { rooms, units }
}

/** The gate for several tenants, each with a whole pass's budget (a CLI pass). */
export const applySafety = (tenants: ReadonlyArray<TenantPlan>, options: SafetyOptions): ReadonlyArray<RoomPlan> =>
  tenants.flatMap((tenant) => gateTenant(tenant, options).rooms)
