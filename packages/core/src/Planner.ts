import type { Action } from "./Action.ts"
import type { ActualRoom } from "./Actual.ts"
import { powerConditions } from "./Adoption.ts"
import type { DesiredOutcome, DesiredRoom } from "./Desired.ts"
import { formatDataProblem } from "./Desired.ts"
import { planMembership } from "./Membership.ts"
import type { Condition, PlannedAction, RoomPlan } from "./Plan.ts"
import type { RoomContext } from "./Policy.ts"
import { isProtected } from "./Policy.ts"
import {
  archivedEventsDefault,
  botLacksPower,
  botMayRemove,
  invalidLevels,
  isArchived,
  planPowerLevels,
} from "./PowerLevels.ts"
import { roomKey } from "./RoomKey.ts"
import type { RoomFacts } from "./RoomSettings.ts"
import { permittedSettings, settingsActions } from "./RoomSettings.ts"

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
 * What stops the bot from touching the room at all: a power level that is not a level, or
 * the bot lacking a level it needs (with what would fix it).
 */
const roomBlockers = (room: ActualRoom, context: RoomContext): ReadonlyArray<Condition> => [
  ...invalidLevels(room.powerLevels).map((message): Condition => ({ type: "blocked", message })),
  ...(botLacksPower(room, context) ? powerConditions(room, context, []) : []),
]

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
    conditions.push({
      type: "encrypted",
      message:
        "room is encrypted (a legacy private room): it stays encrypted and is managed; people invited now cannot read what was said before they joined. Nothing to do (docs/operations.md)",
    })
  }
  const blockers = roomBlockers(room, context)
  if (blockers.length > 0) {
    return {
      ...base,
      status: "blocked",
      actions: [],
      conditions: [...blockers, ...conditions, ...undecidedConditions(desired)],
    }
  }
  const levels = planPowerLevels(room, desired, context, {
    archivedByReconciler: facts.archivedByReconciler === true,
  })
  const membership = planMembership(room, desired, context)
  const actions: Array<PlannedAction> = [
    ...permittedSettings(room, context, settingsActions(room, desired, facts, conditions), conditions),
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
    ...powerConditions(room, context, [...levels.outranked, ...membership.cannotRemove]),
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
  const blockers = roomBlockers(room, context)
  const base = {
    key: roomKey(tenant, "orphan", room.roomId),
    alias,
    roomId: room.roomId,
    status: "orphan" as const,
    conditions: blockers,
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
