import type { Action } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import type { DesiredRoom } from "./Desired.ts"
import type { Condition } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import { botMaySend } from "./PowerLevels.ts"

/**
 * Where the desired alias points now: `undefined` when not looked up (or here),
 * `null` when free, else the other room that holds it.
 */
export type AliasTarget = string | null | undefined

/** What the engine found out about a room besides its state. */
export interface RoomFacts {
  /** Where the desired alias points, when it was looked up. */
  readonly aliasTarget?: AliasTarget
  /** The rooms this one replaced (followed through `m.room.tombstone`): an alias left on one of them moves here. */
  readonly predecessors?: ReadonlyArray<string>
  /** The reconciler archived this room itself (its audit log says so): it may lift the archive. */
  readonly archivedByReconciler?: boolean
}

/** The state event each settings action writes: the bot needs its level, or Synapse refuses. */
const settingEventType: Partial<Record<Action["type"], string>> = {
  set_name: "m.room.name",
  set_join_rule: "m.room.join_rules",
  set_history_visibility: "m.room.history_visibility",
  set_guest_access: "m.room.guest_access",
  set_canonical_alias: "m.room.canonical_alias",
}

/** Settings the bot may not write are conditions, not requests Synapse would refuse on every pass. */
export const permittedSettings = (
  room: ActualRoom,
  context: RoomContext,
  actions: ReadonlyArray<Action>,
  conditions: Array<Condition>,
): ReadonlyArray<Action> =>
  actions.filter((action) => {
    const eventType = settingEventType[action.type]
    if (eventType === undefined || botMaySend(room, context, eventType)) return true
    conditions.push({
      type: "blocked",
      message: `cannot write ${eventType}: the room requires a higher level than the bot's (${action.type} skipped)`,
    })
    return false
  })

/** Name, join rule, history visibility, guest access and aliases as policy.md §2 wants them. */
export const settingsActions = (
  room: ActualRoom,
  desired: DesiredRoom,
  facts: RoomFacts,
  conditions: Array<Condition>,
): ReadonlyArray<Action> => {
  const actions: Array<Action> = []
  const why = `desired by ${desired.key.kind} ${desired.key.entityId}`
  if (room.name !== desired.name) {
    actions.push({ type: "set_name", from: room.name ?? null, to: desired.name, reason: why })
  }
  if (room.joinRule !== desired.joinRule) {
    actions.push({ type: "set_join_rule", from: room.joinRule ?? null, to: desired.joinRule, reason: why })
  }
  if (room.historyVisibility !== desired.historyVisibility) {
    actions.push({
      type: "set_history_visibility",
      from: room.historyVisibility ?? null,
      to: desired.historyVisibility,
      reason: why,
    })
  }
  if (room.guestAccess !== desired.guestAccess) {
    actions.push({ type: "set_guest_access", from: room.guestAccess ?? null, to: desired.guestAccess, reason: why })
  }
  const { aliasTarget } = facts
  // An upgrade made by hand (a tombstone, not Synapse's upgrade) leaves the alias on the old room.
  // Stryker disable next-line ConditionalExpression,ArrayDeclaration: 'typeof aliasTarget === "string"' as true and a stand-in predecessor are equivalent, predecessors are room ids, and no room id is null, undefined or the stand-in text; the other conditions of this line, disabled with them, were killed
  const onPredecessor = typeof aliasTarget === "string" && (facts.predecessors ?? []).includes(aliasTarget)
  const aliasElsewhere = typeof aliasTarget === "string" && aliasTarget !== room.roomId && !onPredecessor
  if (room.canonicalAlias !== desired.alias && aliasElsewhere) {
    conditions.push({ type: "blocked", message: `alias ${desired.alias} belongs to another room, ${aliasTarget}` })
  } else if (room.canonicalAlias !== desired.alias || onPredecessor) {
    // A slug change: the new alias first, then canonical; old aliases stay as alt_aliases.
    if (aliasTarget === null) actions.push({ type: "add_alias", alias: desired.alias, reason: "the slug changed" })
    if (onPredecessor) {
      actions.push({
        type: "add_alias",
        alias: desired.alias,
        from: aliasTarget,
        reason: `the alias still names ${aliasTarget}, the room this one replaced`,
      })
    }
    if (room.canonicalAlias !== desired.alias) {
      const altAliases = room.altAliases.filter((alias) => alias !== desired.alias)
      if (room.canonicalAlias !== undefined && !altAliases.includes(room.canonicalAlias)) {
        altAliases.push(room.canonicalAlias)
      }
      actions.push({
        type: "set_canonical_alias",
        from: room.canonicalAlias ?? null,
        to: desired.alias,
        altAliases,
        reason: why,
      })
    }
  }
  return actions
}
