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
      readonly type: "set_power_levels"
      readonly changes: Readonly<Record<string, LevelChange>>
      /** The complete content to write: every change in one event. */
      readonly content: PowerLevelsContent
      readonly reason: string
    }
  | { readonly type: "invite"; readonly user: string; readonly reason: string }
  | { readonly type: "join"; readonly user: string; readonly reason: string }
  | { readonly type: "kick"; readonly user: string; readonly reason: string }

export type ActionType = Action["type"]

/** Every action type, in the order actions run within a room. */
export const actionTypes: ReadonlyArray<ActionType> = [
  "create_room",
  "set_name",
  "set_join_rule",
  "set_history_visibility",
  "set_guest_access",
  "set_canonical_alias",
  "set_power_levels",
  "invite",
  "join",
  "kick",
]

/** Kicks, and power-level writes that lower someone, remove what people had. */
export const isDestructive = (action: Action): boolean =>
  action.type === "kick" ||
  (action.type === "set_power_levels" && Object.values(action.changes).some((change) => change.to < change.from))
