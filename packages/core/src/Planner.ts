import type { Action } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import type { DesiredOutcome, DesiredRoom } from "./Desired.ts"
import { formatDataProblem } from "./Desired.ts"
import { planMembership } from "./Membership.ts"
import type { Condition, PlannedAction, RoomPlan } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import {
  archivedEventsDefault,
  botMayRemove,
  botMaySend,
  botPowerProblems,
  invalidLevels,
  isArchived,
  planPowerLevels,
} from "./PowerLevels.ts"
import { roomKey } from "./RoomKey.ts"

/** The highest level a user gets in a room the bot creates (the bot has 100). */
const creationCap = 99

/** One condition per row that could not be decided; the room's status is what the rest says. */
const undecidedConditions = (desired: DesiredRoom): Array<Condition> =>
  desired.undecidedRows.map((problem) => ({ type: "undecided", message: formatDataProblem(problem) }))

const createRoom = (desired: DesiredRoom, context: RoomContext): RoomPlan => {
  const users: Record<string, number> = {}
  for (const member of desired.members.values()) {
    const level = Math.min(member.level, creationCap)
    if (level > 0 && !isProtected(context, member.userId)) users[member.userId] = level
  }
  const create: Action = {
    type: "create_room",
    alias: desired.alias,
    name: desired.name,
    joinRule: desired.joinRule,
    historyVisibility: desired.historyVisibility,
    guestAccess: desired.guestAccess,
    users,
    reason: `${desired.key.kind} ${desired.key.entityId} has no room`,
  }
  const { actions } = planMembership(undefined, desired, context)
  return {
    key: desired.key,
    alias: desired.alias,
    roomId: undefined,
    status: "missing",
    actions: [create, ...actions],
    conditions: undecidedConditions(desired),
    memberCount: 0,
    entitledCount: desired.members.size,
  }
}

/**
 * Where the desired alias points now: `undefined` when not looked up (or here),
 * `null` when free, else the other room that holds it.
 */
export type AliasTarget = string | null | undefined

/** What the engine found out about a room besides its state. */
export interface RoomFacts {
  /** Where the desired alias points, when it was looked up. */
  readonly aliasTarget?: AliasTarget
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
const permittedSettings = (
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

const settingsActions = (
  room: ActualRoom,
  desired: DesiredRoom,
  aliasTarget: AliasTarget,
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
  const aliasElsewhere = typeof aliasTarget === "string" && aliasTarget !== room.roomId
  if (room.canonicalAlias !== desired.alias && aliasElsewhere) {
    conditions.push({ type: "blocked", message: `alias ${desired.alias} belongs to another room, ${aliasTarget}` })
  } else if (room.canonicalAlias !== desired.alias) {
    // A slug change: the new alias first, then canonical; old aliases stay as alt_aliases.
    if (aliasTarget === null) actions.push({ type: "add_alias", alias: desired.alias, reason: "the slug changed" })
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
  return actions
}

/** Users invited or joined that the reconciler manages. */
const managedMembers = (room: ActualRoom, context: RoomContext): number =>
  [...room.members.values()].filter(
    (m) => (m.membership === "join" || m.membership === "invite") && !isProtected(context, m.userId),
  ).length

const manageRoom = (room: ActualRoom, desired: DesiredRoom, context: RoomContext, facts: RoomFacts): RoomPlan => {
  const base = {
    key: desired.key,
    alias: desired.alias,
    roomId: room.roomId,
    memberCount: managedMembers(room, context),
    entitledCount: desired.members.size,
  }
  const conditions: Array<Condition> = []
  if (room.encrypted) {
    conditions.push({ type: "encrypted", message: "room is encrypted (legacy); it stays encrypted and is managed" })
  }
  const powerProblems = [...invalidLevels(room.powerLevels), ...botPowerProblems(room, context)]
  if (powerProblems.length > 0) {
    const blocked = powerProblems.map((message): Condition => ({ type: "blocked", message }))
    return {
      ...base,
      status: "blocked",
      actions: [],
      conditions: [...blocked, ...conditions, ...undecidedConditions(desired)],
    }
  }
  const levels = planPowerLevels(room, desired, context, {
    archivedByReconciler: facts.archivedByReconciler === true,
  })
  const membership = planMembership(room, desired, context)
  const actions: Array<PlannedAction> = [
    ...permittedSettings(room, context, settingsActions(room, desired, facts.aliasTarget, conditions), conditions),
  ]
  if (levels.archiving) {
    actions.push({
      type: "archive",
      changes: levels.changes,
      content: levels.content,
      reason: `${desired.key.kind} ${desired.key.entityId} is cancelled: only moderators and up may post`,
    })
  } else if (levels.unarchiving) {
    actions.push({
      type: "unarchive",
      changes: levels.changes,
      content: levels.content,
      reason: `${desired.key.kind} ${desired.key.entityId} is active again: everyone may post`,
    })
  } else if (Object.keys(levels.changes).length > 0) {
    actions.push({
      type: "set_power_levels",
      changes: levels.changes,
      content: levels.content,
      reason: "levels follow OpenMeet roles",
    })
  }
  actions.push(...membership.actions)
  conditions.push(
    ...levels.blocked.map((message): Condition => ({ type: "blocked", message })),
    ...membership.cannotRemove.map((message): Condition => ({ type: "blocked", message })),
    ...membership.banned.map((user): Condition => ({ type: "banned", message: `${user} is banned; left alone` })),
    ...undecidedConditions(desired),
  )
  const isBlocked = conditions.some((c) => c.type === "blocked")
  const status = isBlocked ? "blocked" : actions.length > 0 ? "drifted" : "in_sync"
  const visitors = membership.visitors.length > 0 ? { visitors: membership.visitors.length } : {}
  return { ...base, status, actions, conditions, ...visitors }
}

/**
 * Plans one managed room (policy.md §2–4). Returns undefined when nothing is managed
 * for the key (an unpublished entity without a room).
 */
export const planRoom = (
  desired: DesiredOutcome,
  actual: ActualRoom | undefined,
  context: RoomContext,
  facts: RoomFacts = {},
): RoomPlan | undefined => {
  if (desired._tag === "Failed") {
    return {
      key: desired.key,
      alias: desired.alias,
      roomId: actual?.roomId,
      status: "error",
      actions: [],
      conditions: desired.problems.map((problem) => ({ type: "error", message: formatDataProblem(problem) })),
      memberCount: actual === undefined ? 0 : managedMembers(actual, context),
      entitledCount: 0,
    }
  }
  // An archived room is never created: it only matters to people already in it.
  if (actual === undefined) {
    return desired.room.mayCreate && !desired.room.archived ? createRoom(desired.room, context) : undefined
  }
  return manageRoom(actual, desired.room, context, facts)
}

/**
 * A room in the tenant's alias namespace whose event or group no longer exists:
 * `report` shows it, `archive` lets only moderators post, `evict` kicks every managed member.
 */
export const planOrphan = (room: ActualRoom, alias: string, tenant: string, context: RoomContext): RoomPlan => {
  const blockers = [...invalidLevels(room.powerLevels), ...botPowerProblems(room, context)]
  const base = {
    key: roomKey(tenant, "orphan", room.roomId),
    alias,
    roomId: room.roomId,
    status: "orphan" as const,
    conditions: blockers.map((message): Condition => ({ type: "blocked", message })),
    memberCount: managedMembers(room, context),
    entitledCount: 0,
  }
  const reason = "the room's event or group no longer exists in OpenMeet"
  switch (context.policy.orphanPolicy) {
    case "report":
      return { ...base, actions: [] }
    case "archive": {
      if (isArchived(room) || blockers.length > 0) return { ...base, actions: [] }
      const content = { ...room.powerLevels, events_default: archivedEventsDefault }
      return { ...base, actions: [{ type: "archive", changes: {}, content, reason }] }
    }
    case "evict":
      return {
        ...base,
        actions: [...room.members.values()]
          .filter(
            (m) =>
              (m.membership === "join" || m.membership === "invite") &&
              !isProtected(context, m.userId) &&
              blockers.length === 0 &&
              botMayRemove(room, context, m.userId),
          )
          .sort((a, b) => a.userId.localeCompare(b.userId))
          .map((m): Action => ({ type: "kick", user: m.userId, reason })),
      }
  }
}

/** A room the reconciler cannot act on now: a condition, and no actions. */
export const conditionPlan = (
  where: Pick<RoomPlan, "key" | "alias" | "roomId">,
  status: "error" | "blocked",
  message: string,
): RoomPlan => ({
  ...where,
  status,
  actions: [],
  conditions: [{ type: status, message }],
  memberCount: 0,
  entitledCount: 0,
})
