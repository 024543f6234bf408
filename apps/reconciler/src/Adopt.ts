import type { ActualRoom } from "@openmeet-reconciler/core"
import { formatRoomKey, planToJson, planToText } from "@openmeet-reconciler/core"
import type { PlanResult, Scope } from "@openmeet-reconciler/engine"
import { homeserverOf, ownHomeserver, planPass } from "@openmeet-reconciler/engine"
import type { MatrixRequestError, SynapseAdmin } from "@openmeet-reconciler/matrix"
import { describeMatrixError, Homeservers, makeSynapseAdmin } from "@openmeet-reconciler/matrix"
import { Console, type Duration, Effect, Either, Option, type Redacted } from "effect"
import type { Candidate } from "./AdoptReport.ts"
import { candidatesOf, candidatesToJson, candidatesToText, helps, predict } from "./AdoptReport.ts"
import { underLeaderLock } from "./Lock.ts"
import { reportTenantFailures } from "./Output.ts"
import type { Settings } from "./Settings.ts"
import { SettingsError } from "./Settings.ts"

/**
 * `reconciler adopt`: the rooms the bot cannot manage for lack of power (OpenMeet's legacy
 * rooms: its older bot holds the power, or the bot is not in them), what Synapse's
 * make_room_admin would change in each, and with `--confirm` and a server admin's token,
 * make_room_admin for the bot and its join. The next plan then manages those rooms.
 */

/**
 * Predicts each candidate from the state the plan read (the bot is in the room) or, with
 * the admin API, from the state Synapse holds (it is not).
 */
export const withPredictions = (
  result: PlanResult,
  candidates: ReadonlyArray<Omit<Candidate, "prediction">>,
  admin: Option.Option<SynapseAdmin>,
): Effect.Effect<ReadonlyArray<Candidate>> =>
  Effect.forEach(candidates, (candidate) =>
    Effect.gen(function* () {
      const details = result.details.get(formatRoomKey(candidate.plan.key))
      const bot = details?.context.botUserId ?? candidate.runtime.botUserId
      if (candidate.adopt === undefined) return { ...candidate, prediction: undefined }
      const read =
        details?.actual !== undefined && details.actual.roomId === candidate.adopt
          ? Effect.succeed(Option.some(details.actual))
          : Option.match(admin, {
              onNone: () => Effect.succeed(Option.none<ActualRoom>()),
              onSome: (api) => Effect.map(api.roomState(candidate.adopt ?? ""), (room) => Option.some(room)),
            })
      const state = yield* Effect.either(read)
      if (Either.isLeft(state)) return { ...candidate, prediction: { error: describeMatrixError(state.left) } }
      return {
        ...candidate,
        prediction: Option.isNone(state.right) ? undefined : predict(state.right.value, details, bot),
      }
    }),
  )

/**
 * The admin API of the one homeserver the rooms to adopt live on: an admin token is one
 * homeserver's, so rooms on several are refused (narrow with --tenant).
 */
export const adminFor = (
  candidates: ReadonlyArray<Omit<Candidate, "prediction">>,
  token: Redacted.Redacted<string>,
  settings: Settings,
): Effect.Effect<SynapseAdmin, SettingsError | MatrixRequestError, Homeservers> =>
  Effect.gen(function* () {
    const homeservers = yield* Homeservers
    const urls = new Set<string>()
    for (const candidate of candidates.filter((c) => c.adopt !== undefined)) {
      const { tenant } = candidate.runtime
      const target = yield* homeservers
        .targetFor(tenant.serverName, ownHomeserver(candidate.runtime))
        .pipe(
          Effect.catchTag("NoHomeserver", (error) =>
            Effect.fail(new SettingsError({ message: `tenant ${tenant.id}: ${describeMatrixError(error)}` })),
          ),
        )
      urls.add(target.homeserverUrl)
    }
    const [url, ...others] = [...urls]
    if (others.length > 0) {
      return yield* new SettingsError({
        message: `the rooms to adopt are on ${urls.size} homeservers; SYNAPSE_ADMIN_TOKEN is one homeserver's: choose the tenants of one with --tenant`,
      })
    }
    return makeSynapseAdmin(url ?? settings.homeserverUrl, token)
  })

/**
 * make_room_admin for the bot in each room it helps, then the bot's join where it was not
 * in the room; a room that fails is reported and the others go on.
 */
const adoptAll = (candidates: ReadonlyArray<Candidate>, admin: SynapseAdmin) =>
  Effect.forEach(candidates, (candidate) =>
    Effect.gen(function* () {
      const { prediction, adopt } = candidate
      if (adopt === undefined || prediction === undefined || "error" in prediction || !helps(prediction)) {
        return { ...candidate, result: { result: "skipped" as const } }
      }
      const done = yield* Effect.either(
        Effect.gen(function* () {
          const matrix = yield* homeserverOf(candidate.runtime)
          yield* admin.makeRoomAdmin(adopt, matrix.botUserId)
          if (prediction.joins) yield* matrix.joinAs(adopt, matrix.botUserId)
        }),
      )
      return Either.isRight(done)
        ? { ...candidate, result: { result: "adopted" as const } }
        : { ...candidate, result: { result: "failed" as const, error: describeMatrixError(done.left) } }
    }),
  )

export interface AdoptInput {
  readonly settings: Settings
  readonly scope: Scope
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  readonly confirm: boolean
  readonly output: "text" | "json"
  readonly wait: Duration.Duration
}

const print = (candidates: ReadonlyArray<Candidate>, next: PlanResult | undefined, output: "text" | "json") =>
  output === "json"
    ? Console.log(
        JSON.stringify(
          { ...candidatesToJson(candidates), ...(next === undefined ? {} : { nextPlan: planToJson(next.plan) }) },
          null,
          2,
        ),
      )
    : Console.log(
        candidates.length === 0
          ? "No room needs adopting: the bot has the power it needs in every room it found."
          : `${candidatesToText(candidates)}${next === undefined ? "" : `\n\nThe next plan for the adopted rooms:\n${planToText(next.plan)}`}`,
      )

/** Lists (and with `confirm` adopts) the rooms; the exit code: 1 when a room failed or a tenant could not be planned. */
export const runAdopt = (input: AdoptInput) =>
  Effect.gen(function* () {
    const { settings, scope } = input
    const result = yield* planPass(scope, { concurrency: settings.concurrency })
    yield* reportTenantFailures(result)
    const failedTenants = result.failedTenants.length > 0 ? 1 : 0
    const listed = candidatesOf(result)
    const toAdopt = listed.filter((c) => c.adopt !== undefined)
    const admin =
      Option.isSome(input.adminToken) && toAdopt.length > 0
        ? Option.some(yield* adminFor(listed, input.adminToken.value, settings))
        : Option.none<SynapseAdmin>()
    const candidates = yield* withPredictions(result, listed, admin)
    if (!input.confirm || toAdopt.length === 0) {
      yield* print(candidates, undefined, input.output)
      if (input.output === "text" && toAdopt.length > 0) {
        yield* Console.log(
          "Run `reconciler adopt --confirm` with SYNAPSE_ADMIN_TOKEN (a Synapse server admin's access token) to adopt them.",
        )
      }
      return failedTenants
    }
    if (Option.isNone(admin)) {
      return yield* new SettingsError({
        message: "adopt --confirm needs SYNAPSE_ADMIN_TOKEN, the access token of a Synapse server admin",
      })
    }
    const tenants = [...new Set(toAdopt.map((c) => c.runtime.tenant.id))]
    const adopted = yield* underLeaderLock(settings, tenants, input.wait, adoptAll(candidates, admin.value))
    const keys = adopted.filter((c) => c.result.result === "adopted").map((c) => c.plan.key)
    // What the next pass does with them, read fresh: they are managed now.
    const next =
      keys.length === 0
        ? undefined
        : yield* planPass({ tenants: scope.tenants, rooms: keys }, { concurrency: settings.concurrency })
    yield* print(adopted, next, input.output)
    return adopted.some((c) => c.result.result === "failed") ? 1 : failedTenants
  })
