import type { RoomKey } from "@openmeet-reconciler/core"
import { actionToJson, formatRoomKey } from "@openmeet-reconciler/core"
import type { AppliedAction, ApplyResult, PlanResult, StatusReport } from "@openmeet-reconciler/engine"
import { Console, Effect, Option } from "effect"

/** One line on stderr per tenant whose desired state could not be computed. */
export const reportTenantFailures = (result: PlanResult) =>
  Effect.forEach(result.failedTenants, (failure) =>
    Console.error(`error: tenant ${JSON.stringify(failure.tenant)}: ${failure.message}; nothing of it was planned`),
  )

/** A progress line on stderr, only when a person watches a terminal and the work is long. */
export const progress =
  (label: string) =>
  (done: number, total: number): Effect.Effect<void> =>
    Effect.sync(() => {
      if (!process.stderr.isTTY || total < 20) return
      process.stderr.write(`\r${label}: ${done}/${total} rooms`)
      if (done === total) process.stderr.write("\n")
    })

const target = (action: AppliedAction["action"]): string => {
  switch (action.type) {
    case "invite":
    case "join":
    case "kick":
      return ` ${action.user}`
    case "create_room":
      return ` ${action.alias}`
    default:
      return ""
  }
}

const where = (key: RoomKey, roomId: string | undefined) => `${formatRoomKey(key)}${roomId ? ` (${roomId})` : ""}`

/** One line per action with its result, then a summary line. */
export const applyResultToText = (result: ApplyResult): string => {
  const lines = result.actions.map(({ key, roomId, action, outcome }) => {
    const head = `${where(key, roomId)}: ${action.type}${target(action)}`
    return outcome.result === "applied"
      ? `  ok      ${head}`
      : `  ${outcome.result === "failed" ? "FAILED " : "skipped"} ${head}: ${outcome.error}`
  })
  const count = (r: string) => result.actions.filter((a) => a.outcome.result === r).length
  lines.push(`Apply: ${count("applied")} applied, ${count("failed")} failed, ${count("not_attempted")} not attempted.`)
  return lines.join("\n")
}

export const applyResultToJson = (result: ApplyResult): Record<string, unknown> => ({
  formatVersion: 1,
  actions: result.actions.map(({ key, roomId, action, outcome }) => ({
    key: formatRoomKey(key),
    roomId: roomId ?? null,
    action: actionToJson(action),
    ...outcome,
  })),
})

/** `status` as text: counts per tenant and kind, the rooms that need a person, the last pass. */
export const statusToText = (report: StatusReport): string => {
  if (report.rooms.length === 0 && Option.isNone(report.lastPass)) {
    return "No pass recorded yet: run `reconciler apply` (or the daemon) first."
  }
  const lines: Array<string> = ["Rooms by status:"]
  const groups = new Map<string, Array<string>>()
  for (const row of report.rooms) {
    const label = `  tenant ${JSON.stringify(row.tenant)} ${row.kind}`
    groups.set(label, [...(groups.get(label) ?? []), `${row.status} ${row.count}`])
  }
  for (const [label, counts] of groups) lines.push(`${label}: ${counts.join(", ")}`)
  lines.push("", report.attention.length === 0 ? "No room is blocked or failing." : "Needing attention:")
  for (const room of report.attention) {
    lines.push(
      `  ! ${room.key}${room.roomId === null ? "" : ` (${room.roomId})`} [${room.status}] since ${room.updatedAt}`,
    )
    for (const condition of room.conditions) lines.push(`      ${condition.type}: ${condition.message}`)
  }
  if (Option.isSome(report.lastPass)) {
    const pass = report.lastPass.value
    lines.push(
      "",
      `Last pass: ${pass.startedAt} → ${pass.finishedAt}, ${pass.rooms} rooms, ${pass.applied} actions applied, ${pass.failed} failed.`,
    )
  }
  return lines.join("\n")
}

export const statusToJson = (report: StatusReport): Record<string, unknown> => ({
  formatVersion: 1,
  rooms: report.rooms,
  attention: report.attention,
  lastPass: Option.getOrNull(report.lastPass),
})
