import type { LevelChange } from "./Action.ts"
import { isPowerLevelsWrite } from "./Action.ts"
import type { Plan, PlannedAction, RoomPlan } from "./Plan.ts"
import { summarize } from "./Plan.ts"
import { formatRoomKey } from "./RoomKey.ts"

/** The version of the plan JSON contract (architecture.md). */
export const planFormatVersion = 1

/** An action as the plan JSON shows it. */
export const actionToJson = (action: PlannedAction): Record<string, unknown> => {
  // The full power-levels content is an apply detail; the plan shows the changes.
  // Stryker disable next-line ConditionalExpression: 'true' is equivalent, an action without content loses nothing by leaving it out; 'false', disabled with it, was killed
  if (isPowerLevelsWrite(action)) {
    const { content: _content, ...rest } = action
    return { ...rest }
  }
  return { ...action }
}

const roomJson = (room: RoomPlan): Record<string, unknown> => ({
  key: formatRoomKey(room.key),
  tenant: room.key.tenant,
  kind: room.key.kind,
  entityId: room.key.entityId,
  alias: room.alias ?? null,
  roomId: room.roomId ?? null,
  status: room.status,
  actions: room.actions.map(actionToJson),
  conditions: room.conditions,
  visitors: room.visitors ?? 0,
})

/** The plan as the `plan --output json` document. */
export const planToJson = (plan: Plan): Record<string, unknown> => ({
  formatVersion: planFormatVersion,
  summary: summarize(plan),
  rooms: plan.rooms.map(roomJson),
})

const sign = (action: PlannedAction): string => {
  switch (action.type) {
    case "create_room":
    case "invite":
    case "join":
      return "+"
    case "kick":
      return "-"
    case "add_alias":
      return "+"
    case "set_power_levels":
    case "archive":
    case "unarchive":
      // Stryker disable next-line EqualityOperator: '<=' is equivalent (planPowerLevels never lists a change whose level stays); '>=', disabled with it, was killed
      return Object.values(action.changes).some((change) => change.to < change.from) ? "-" : "~"
    default:
      return "~"
  }
}

const levelChanges = (changes: Readonly<Record<string, LevelChange>>): string =>
  Object.entries(changes)
    .map(([user, change]) => `${user} ${change.from} → ${change.to}`)
    .join(", ")

const quote = (value: string | null): string => (value === null ? "(none)" : JSON.stringify(value))

const describe = (action: PlannedAction): string => {
  switch (action.type) {
    case "create_room": {
      const levels = Object.entries(action.users).map(([user, level]) => `${user}=${level}`)
      return `create room ${action.alias} ${quote(action.name)}, join rule ${action.joinRule}${levels.length > 0 ? `, levels ${levels.join(" ")}` : ""}`
    }
    case "set_name":
      return `name ${quote(action.from)} → ${quote(action.to)}`
    case "set_join_rule":
      return `join rule ${action.from ?? "(none)"} → ${action.to}`
    case "set_history_visibility":
      return `history visibility ${action.from ?? "(none)"} → ${action.to}`
    case "set_guest_access":
      return `guest access ${action.from ?? "(none)"} → ${action.to}`
    case "set_canonical_alias":
      return `canonical alias ${action.from ?? "(none)"} → ${action.to}`
    case "add_alias":
      return action.from === undefined ? `add alias ${action.alias}` : `move alias ${action.alias} from ${action.from}`
    case "set_power_levels":
      return `power levels ${levelChanges(action.changes)}`
    case "archive": {
      const changes = levelChanges(action.changes)
      return `archive: only level 50 and up may post${changes === "" ? "" : `; power levels ${changes}`}`
    }
    case "unarchive": {
      const changes = levelChanges(action.changes)
      return `unarchive: everyone may post again${changes === "" ? "" : `; power levels ${changes}`}`
    }
    case "invite":
      return `invite ${action.user} (${action.reason})`
    case "join":
      return `join ${action.user} (${action.reason})`
    case "kick":
      return `kick ${action.user} (${action.reason})`
  }
}

const roomHeader = (room: RoomPlan): string => {
  const mark = room.status === "missing" ? "+" : room.status === "error" || room.status === "blocked" ? "!" : "~"
  const where = [room.alias, room.roomId].filter((part) => part !== undefined).join(" ")
  return `${mark} ${formatRoomKey(room.key)}  ${where}  [${room.status}]`
}

/** Terraform-like text: one block per room that needs attention, a summary line last. */
export const planToText = (plan: Plan): string => {
  const lines: Array<string> = []
  for (const room of plan.rooms) {
    if (room.actions.length === 0 && room.conditions.length === 0) continue
    lines.push(roomHeader(room))
    for (const action of room.actions) {
      lines.push(`    ${sign(action)} ${describe(action)}${action.held === true ? "   (held: safety limit)" : ""}`)
    }
    for (const condition of room.conditions) lines.push(`    ! ${condition.type}: ${condition.message}`)
    lines.push("")
  }
  const summary = summarize(plan)
  const total = Object.values(summary.actions).reduce((sum, n) => sum + (n ?? 0), 0)
  const byType = Object.entries(summary.actions).map(([type, n]) => `${n} ${type}`)
  const attention = summary.blocked + summary.errors
  const head =
    total === 0 && attention === 0
      ? "No changes. Matrix matches OpenMeet."
      : total === 0
        ? `No changes to apply, but ${attention} room${attention === 1 ? " needs" : "s need"} a person (${summary.blocked} blocked, ${summary.errors} with errors: see above).`
        : `Plan: ${total} action${total === 1 ? "" : "s"} (${byType.join(", ")}) in ${summary.drifted + summary.missing} room${summary.drifted + summary.missing === 1 ? "" : "s"}.`
  const visitors =
    summary.visitors > 0
      ? ` ${summary.visitors} visitor${summary.visitors === 1 ? "" : "s"} (no attendee or member row) left in public rooms.`
      : ""
  lines.push(
    `${head}${summary.held > 0 ? ` ${summary.held} held by safety limits.` : ""} Rooms: ${summary.rooms} managed, ${summary.inSync} in sync, ${summary.drifted} drifted, ${summary.missing} missing, ${summary.blocked} blocked, ${summary.errors} with errors.${visitors}`,
  )
  return lines.join("\n")
}
