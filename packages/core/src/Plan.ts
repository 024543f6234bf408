import type { Action, ActionType } from "./Action.ts"
import { actionTypes } from "./Action.ts"
import type { RoomKey } from "./RoomKey.ts"
import { formatRoomKey } from "./RoomKey.ts"

export const roomStatuses = ["in_sync", "drifted", "missing", "orphan", "blocked", "error"] as const
export type RoomStatus = (typeof roomStatuses)[number]

export const conditionTypes = [
  "blocked",
  "error",
  "banned",
  "encrypted",
  "stray_room",
  "undecided",
  "level_kept",
] as const

export interface Condition {
  /**
   * `blocked` and `error` need an operator; the others are informational (`stray_room`:
   * another room carries this key's alias and is left alone; `undecided`: a row that
   * could not be decided, its user left as found; `level_kept`: a user at or above the
   * bot whose role still grants power keeps their level).
   */
  readonly type: (typeof conditionTypes)[number]
  readonly message: string
  /** The room `reconciler adopt` would fix this in (Synapse's make_room_admin for the bot). */
  readonly adopt?: string
}

/** An action as planned; `held` when a safety limit keeps it back. */
export type PlannedAction = Action & { readonly held?: true }

/** The plan for one managed room. */
export interface RoomPlan {
  readonly key: RoomKey
  readonly alias: string | undefined
  readonly roomId: string | undefined
  readonly status: RoomStatus
  readonly actions: ReadonlyArray<PlannedAction>
  readonly conditions: ReadonlyArray<Condition>
  /** Users now invited or joined, other than protected ones (the base of the per-room cap). */
  readonly memberCount: number
  /** Users the database entitles (0 when the desired state failed or the room is an orphan). */
  readonly entitledCount: number
  /** Visitors left in the public room (`publicRoomVisitors: keep`); absent when none. */
  readonly visitors?: number
}

/** The plan for a whole pass: every room looked at, in key order. */
export interface Plan {
  readonly rooms: ReadonlyArray<RoomPlan>
}

export interface PlanSummary {
  readonly rooms: number
  readonly inSync: number
  readonly drifted: number
  readonly missing: number
  readonly orphans: number
  readonly blocked: number
  readonly errors: number
  readonly actions: Readonly<Partial<Record<ActionType, number>>>
  /** Actions a safety limit holds back (counted in `actions` too). */
  readonly held: number
  /** Visitors left in public rooms, over all rooms. */
  readonly visitors: number
}

export const summarize = (plan: Plan): PlanSummary => {
  const count = (status: RoomStatus) => plan.rooms.filter((room) => room.status === status).length
  const actions: Partial<Record<ActionType, number>> = {}
  for (const room of plan.rooms) {
    for (const action of room.actions) actions[action.type] = (actions[action.type] ?? 0) + 1
  }
  const ordered: Partial<Record<ActionType, number>> = {}
  for (const type of actionTypes) {
    const n = actions[type]
    if (n !== undefined) ordered[type] = n
  }
  return {
    rooms: plan.rooms.length,
    inSync: count("in_sync"),
    drifted: count("drifted"),
    missing: count("missing"),
    orphans: count("orphan"),
    blocked: count("blocked"),
    errors: count("error"),
    actions: ordered,
    held: plan.rooms.reduce((n, room) => n + room.actions.filter((a) => a.held === true).length, 0),
    visitors: plan.rooms.reduce((n, room) => n + (room.visitors ?? 0), 0),
  }
}

/** Actions that an `apply` would run now (not held back). */
export const pendingActions = (room: RoomPlan): ReadonlyArray<PlannedAction> =>
  room.actions.filter((action) => action.held !== true)

export const compareRoomPlans = (a: RoomPlan, b: RoomPlan): number => {
  const ka = a.key
  const kb = b.key
  if (ka.tenant !== kb.tenant) return ka.tenant < kb.tenant ? -1 : 1
  if (ka.kind !== kb.kind) return ka.kind < kb.kind ? -1 : 1
  const na = Number(ka.entityId)
  const nb = Number(kb.entityId)
  if (na !== nb && Number.isFinite(na) && Number.isFinite(nb)) return na - nb
  return formatRoomKey(ka).localeCompare(formatRoomKey(kb))
}
