import type { PowerLevelsContent } from "./Actual.ts"
import type { JoinRule } from "./Desired.ts"

export interface LevelChange {
  readonly from: number
  readonly to: number
}

/** One corrective step on one room; the `type` strings are the plan JSON contract. */
export type Action =
  | {
      readonly type: "create_room"
      readonly alias: string
      readonly name: string
      readonly joinRule: JoinRule
      readonly historyVisibility: string
      readonly guestAccess: string
      /** Non-zero levels of entitled users, set in the creation request itself. */
      readonly users: Readonly<Record<string, number>>
      readonly reason: string
    }
  | { readonly type: "set_name"; readonly from: string | null; readonly to: string; readonly reason: string }
  | { readonly type: "set_join_rule"; readonly from: string | null; readonly to: JoinRule; readonly reason: string }
  | {
      readonly type: "set_history_visibility"
      readonly from: string | null
      readonly to: string
      readonly reason: string
    }
  | { readonly type: "set_guest_access"; readonly from: string | null; readonly to: string; readonly reason: string }
  | {
      readonly type: "set_canonical_alias"
      readonly from: string | null
      readonly to: string
      readonly altAliases: ReadonlyArray<string>
      readonly reason: string
    }
  | {
      readonly type: "add_alias"
      readonly alias: string
      /** The room the alias is moved from (a room this one replaced), when it names one. */
      readonly from?: string
      readonly reason: string
    }
  | {
      readonly type: "set_power_levels"
      readonly changes: Readonly<Record<string, LevelChange>>
      /** The complete content to write: every change in one event. */
      readonly content: PowerLevelsContent
      readonly reason: string
    }
  | { readonly type: "invite"; readonly user: string; readonly reason: string }
  | { readonly type: "join"; readonly user: string; readonly reason: string }
  | { readonly type: "kick"; readonly user: string; readonly reason: string }
  | {
      /**
       * The room's one power-levels write when it is archived: `events_default` 50 (only
       * moderators and up may post) together with any level changes.
       */
      readonly type: "archive"
      readonly changes: Readonly<Record<string, LevelChange>>
      readonly content: PowerLevelsContent
      readonly reason: string
    }
  | {
      /**
       * The room's one power-levels write when a room the reconciler archived belongs to an
       * active entity again: `events_default` back to 0, with any level changes.
       */
      readonly type: "unarchive"
      readonly changes: Readonly<Record<string, LevelChange>>
      readonly content: PowerLevelsContent
      readonly reason: string
    }

export type ActionType = Action["type"]

/** Every action type, in the order actions run within a room. */
export const actionTypes: ReadonlyArray<ActionType> = [
  "create_room",
  "set_name",
  "set_join_rule",
  "set_history_visibility",
  "set_guest_access",
  "add_alias",
  "set_canonical_alias",
  "set_power_levels",
  "archive",
  "unarchive",
  "invite",
  "join",
  "kick",
]

/** A power-levels write: the room's one `m.room.power_levels` event of the pass. */
export type PowerLevelsWrite = Extract<Action, { readonly type: "set_power_levels" | "archive" | "unarchive" }>

export const isPowerLevelsWrite = (action: Action): action is PowerLevelsWrite =>
  action.type === "set_power_levels" || action.type === "archive" || action.type === "unarchive"

/**
 * The reason a kick carries in Matrix, where every member of the room reads it. It never
 * states personal facts (an attendance status, an inactive account): the rule that
 * decided is kept in the action's `reason`, for the plan and the audit log only.
 */
export const publicKickReason = "Removed by OpenMeet: no longer on this room's list"
