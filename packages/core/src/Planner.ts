import type { Action } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import type { DesiredOutcome, DesiredRoom } from "./Desired.ts"
import { formatDataProblem } from "./Desired.ts"
import { planMembership } from "./Membership.ts"
import type { Condition, PlannedAction, RoomPlan } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import { botPowerProblems, planPowerLevels } from "./PowerLevels.ts"

/** The highest level a user gets in a room the bot creates (the bot has 100). */
const creationCap = 99

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
    conditions: [],
    memberCount: 0,
    entitledCount: desired.members.size,
  }
}

const settingsActions = (room: ActualRoom, desired: DesiredRoom): ReadonlyArray<Action> => {
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
  return actions
}

/** Users invited or joined that the reconciler manages. */
const managedMembers = (room: ActualRoom, context: RoomContext): number =>
  [...room.members.values()].filter(
    (m) => (m.membership === "join" || m.membership === "invite") && !isProtected(context, m.userId),
  ).length

const manageRoom = (room: ActualRoom, desired: DesiredRoom, context: RoomContext): RoomPlan => {
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
  const powerProblems = botPowerProblems(room, context)
  if (powerProblems.length > 0) {
    const blocked = powerProblems.map((message): Condition => ({ type: "blocked", message }))
    return { ...base, status: "blocked", actions: [], conditions: [...blocked, ...conditions] }
  }
  const levels = planPowerLevels(room, desired, context)
  const membership = planMembership(room, desired, context)
  const actions: Array<PlannedAction> = [...settingsActions(room, desired)]
  if (Object.keys(levels.changes).length > 0) {
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
    ...membership.banned.map((user): Condition => ({ type: "banned", message: `${user} is banned; left alone` })),
  )
  const status = levels.blocked.length > 0 ? "blocked" : actions.length > 0 ? "drifted" : "in_sync"
  return { ...base, status, actions, conditions }
}

/**
 * Plans one managed room (policy.md §2–4). Returns undefined when nothing is managed
 * for the key (an unpublished entity without a room).
 */
export const planRoom = (
  desired: DesiredOutcome,
  actual: ActualRoom | undefined,
  context: RoomContext,
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
  if (actual === undefined) return desired.room.mayCreate ? createRoom(desired.room, context) : undefined
  return manageRoom(actual, desired.room, context)
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
