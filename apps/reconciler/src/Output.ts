import type { RoomKey } from "@openmeet-reconciler/core"
import { actionToJson, formatRoomKey } from "@openmeet-reconciler/core"
import type { AppliedAction, ApplyResult } from "@openmeet-reconciler/engine"
import { Effect } from "effect"

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
