import type { ActualRoom, Condition, RoomPlan } from "@openmeet-reconciler/core"
import { adoptionOf, formatRoomKey, planRoom } from "@openmeet-reconciler/core"
import type { PlanResult, RoomDetails, TenantRuntime } from "@openmeet-reconciler/engine"

/** What make_room_admin would do in one room, from its state. */
export interface Prediction {
  readonly grantor: string | undefined
  readonly levelNow: number
  readonly levelAfter: number
  /** The bot is not in the room: make_room_admin invites it (unless the room is public), adopt joins it. */
  readonly joins: boolean
  /** What would still need a person once adopted (users the bot is still not above). */
  readonly remaining: ReadonlyArray<Condition>
}

/** A room `adopt` looks at: one adopt would fix, or one blocked by power it cannot fix. */
export interface Candidate {
  readonly plan: RoomPlan
  readonly runtime: TenantRuntime
  /** The room make_room_admin would act on (a successor, when the bot is not in it); undefined: adopt cannot help. */
  readonly adopt: string | undefined
  readonly prediction: Prediction | { readonly error: string } | undefined
  readonly result?: { readonly result: "adopted" | "failed" | "skipped"; readonly error?: string }
}

/** Conditions about the bot's power: the ones adopt fixes, or that say why it cannot. */
const aboutPower = (condition: Condition): boolean =>
  condition.adopt !== undefined ||
  condition.type === "level_kept" ||
  (condition.type === "blocked" && /^bot lacks power|is not below the bot's/.test(condition.message))

/** make_room_admin's outcome in `room`, and what the room would still need after it (pure). */
export const predict = (room: ActualRoom, details: RoomDetails | undefined, botUserId: string): Prediction => {
  const adoption = adoptionOf(room, botUserId)
  const context = details?.context
  const after =
    details?.desired === undefined || context === undefined || adoption.grantor === undefined
      ? undefined
      : planRoom({ _tag: "Desired", room: details.desired }, adoption.room, { ...context, botUserId })
  return {
    grantor: adoption.grantor,
    levelNow: adoption.levelNow,
    levelAfter: adoption.levelAfter,
    joins: room.members.get(botUserId)?.membership !== "join",
    remaining: (after?.conditions ?? []).filter(aboutPower),
  }
}

/** Whether adopting the room changes anything: the bot gains power or gets in. */
export const helps = (prediction: Prediction): boolean =>
  prediction.grantor !== undefined && (prediction.levelAfter > prediction.levelNow || prediction.joins)

const describePrediction = (candidate: Candidate): ReadonlyArray<string> => {
  const prediction = candidate.prediction
  if (candidate.adopt === undefined) return ["adopt cannot fix this: see the conditions for who can"]
  if (prediction === undefined) {
    return [`the bot is not in ${candidate.adopt}: give SYNAPSE_ADMIN_TOKEN to see who would give it power`]
  }
  if ("error" in prediction) return [`reading ${candidate.adopt} with the admin token failed: ${prediction.error}`]
  if (prediction.grantor === undefined) {
    return ["make_room_admin would fail: no joined member of the bot's server holds power in the room"]
  }
  return [
    `make_room_admin in ${candidate.adopt}: ${prediction.grantor} gives the bot ${prediction.levelAfter} (it has ${prediction.levelNow})${prediction.joins ? "; adopt then joins the bot" : ""}`,
    ...prediction.remaining.map((c) => `still then: ${c.type}: ${c.message}`),
  ]
}

/** The listing, one block per room. */
export const candidatesToText = (candidates: ReadonlyArray<Candidate>): string => {
  const lines: Array<string> = []
  for (const candidate of candidates) {
    const { plan } = candidate
    lines.push(`${formatRoomKey(plan.key)}  ${[plan.alias, plan.roomId].filter(Boolean).join(" ")}  [${plan.status}]`)
    for (const condition of plan.conditions.filter(aboutPower))
      lines.push(`    ! ${condition.type}: ${condition.message}`)
    for (const line of describePrediction(candidate)) lines.push(`    → ${line}`)
    if (candidate.result !== undefined) {
      lines.push(
        `    = ${candidate.result.result}${candidate.result.error === undefined ? "" : `: ${candidate.result.error}`}`,
      )
    }
    lines.push("")
  }
  const fixable = candidates.filter((c) => c.adopt !== undefined).length
  lines.push(
    `adopt would act on ${fixable} room(s); ${candidates.length - fixable} blocked by power it cannot fix (the conditions say who can).`,
  )
  return lines.join("\n")
}

export const candidatesToJson = (candidates: ReadonlyArray<Candidate>) => ({
  formatVersion: 1,
  rooms: candidates.map((c) => ({
    key: formatRoomKey(c.plan.key),
    roomId: c.plan.roomId ?? null,
    status: c.plan.status,
    adopt: c.adopt ?? null,
    conditions: c.plan.conditions.filter(aboutPower),
    makeRoomAdmin: c.prediction ?? null,
    ...(c.result === undefined ? {} : c.result),
  })),
})

/** The rooms of a plan that adopt lists: every room with a condition about the bot's power. */
export const candidatesOf = (result: PlanResult): ReadonlyArray<Omit<Candidate, "prediction">> => {
  const runtimes = new Map(result.scope.tenants.map((r) => [r.tenant.id, r]))
  return result.plan.rooms.flatMap((plan) => {
    const runtime = runtimes.get(plan.key.tenant)
    const power = plan.conditions.filter(aboutPower)
    if (runtime === undefined || power.length === 0) return []
    return [{ plan, runtime, adopt: power.find((c) => c.adopt !== undefined)?.adopt }]
  })
}
