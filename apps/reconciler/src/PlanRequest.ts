import type { RoomKey } from "@openmeet-reconciler/core"
import { formatRoomKey, parseRoomKey, planToJson, planToText } from "@openmeet-reconciler/core"
import type { PlanResult, Scope, TenantFailure } from "@openmeet-reconciler/engine"
import { Effect, Either } from "effect"
import type { Settings } from "./Settings.ts"
import { SettingsError, tenantRuntimes } from "./Settings.ts"

/*
 * A plan as `plan` prints it, wherever it is computed: by the CLI itself, or by a running
 * daemon for `GET /plan` (and `plan --daemon URL`, which prints the daemon's answer).
 */

/** The tenants and rooms `--tenant` and `--room` (or `?tenant=` and `?room=`) name, checked against the settings. */
export const resolveScope = (
  settings: Settings,
  tenants: ReadonlyArray<string>,
  rooms: ReadonlyArray<string>,
): Effect.Effect<Scope, SettingsError> =>
  Effect.gen(function* () {
    const runtimes = tenantRuntimes(settings)
    const known = new Set(runtimes.map((r) => r.tenant.id))
    for (const id of tenants) {
      if (!known.has(id)) {
        return yield* new SettingsError({
          message: `--tenant ${JSON.stringify(id)}: no such tenant; configured: ${[...known].map((t) => JSON.stringify(t)).join(", ")}`,
        })
      }
    }
    const keys: Array<RoomKey> = []
    for (const text of rooms) {
      const parsed = parseRoomKey(text)
      if (Either.isLeft(parsed)) return yield* new SettingsError({ message: `--room: ${parsed.left}` })
      if (!known.has(parsed.right.tenant)) {
        return yield* new SettingsError({
          message: `--room ${text}: tenant ${JSON.stringify(parsed.right.tenant)} is not configured`,
        })
      }
      keys.push(parsed.right)
    }
    const outside = keys.find((key) => tenants.length > 0 && !tenants.includes(key.tenant))
    if (outside !== undefined) {
      return yield* new SettingsError({
        message: `--room ${formatRoomKey(outside)}: its tenant is not among --tenant ${tenants.join(", ")}`,
      })
    }
    const selected = tenants.length === 0 ? runtimes : runtimes.filter((r) => tenants.includes(r.tenant.id))
    return { tenants: selected, rooms: keys }
  })

export const heldNote = (result: PlanResult): string | undefined => {
  const held = result.plan.rooms.reduce((n, room) => n + room.actions.filter((a) => a.held === true).length, 0)
  return held > 0
    ? `Held: ${held} destructive action(s) over the safety limits; apply --confirm-destructive (or --allow-empty) applies them.`
    : undefined
}

export const pendingHandleNote = (result: PlanResult): string | undefined => {
  const total = [...result.pendingHandles.values()].reduce((sum, n) => sum + n, 0)
  return total > 0 ? `Note: ${total} entitled user(s) have no Matrix handle yet (pending_handle); skipped.` : undefined
}

/** The plan is incomplete: a tenant's desired state failed, or a room is in error. */
export const hasErrors = (result: PlanResult) =>
  result.failedTenants.length > 0 || result.plan.rooms.some((r) => r.status === "error")

/** How a plan ends: `error` (exit 1), `pending` (exit 2 with --detailed-exitcode) or `in_sync`. */
export type PlanVerdict = "error" | "pending" | "in_sync"

export const verdictOf = (result: PlanResult): PlanVerdict =>
  hasErrors(result) ? "error" : result.plan.rooms.some((r) => r.actions.length > 0) ? "pending" : "in_sync"

export const tenantFailureLine = (failure: TenantFailure) =>
  `error: tenant ${JSON.stringify(failure.tenant)}: ${failure.message}; nothing of it was planned`

/** What `plan` prints on stdout: the JSON document, or the text with its notes. */
export const planOutput = (result: PlanResult, output: "text" | "json"): string =>
  output === "json"
    ? JSON.stringify(planToJson(result.plan), null, 2)
    : [planToText(result.plan), heldNote(result), pendingHandleNote(result)]
        .filter((line) => line !== undefined)
        .join("\n")
