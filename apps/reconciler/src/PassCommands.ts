/** The commands that run a pass: `plan` (changes nothing), `apply` (one pass now), `explain`. */
import { Args, Command, Options } from "@effect/cli"
import {
  explainRoom,
  explanationToText,
  formatRoomKey,
  planToJson,
  planToText,
  serverOf,
} from "@openmeet-reconciler/core"
import type { Scope } from "@openmeet-reconciler/engine"
import { closeInterrupted, planPass, reconcileAgain, Store, warmFromLeader } from "@openmeet-reconciler/engine"
import { makeStateCache } from "@openmeet-reconciler/matrix"
import { Console, Effect, Option } from "effect"
import {
  allowEmpty,
  config,
  confirmDestructive,
  ExitCode,
  exitFor,
  loadScope,
  lockWait,
  output,
  passOptions,
  reportFailures,
  room,
  tenant,
  waitForLock,
} from "./CommandShared.ts"
import { underLeaderLock } from "./Lock.ts"
import { applyResultToJson, applyResultToText, progress } from "./Output.ts"
import { daemonPlan } from "./PlanEndpoint.ts"
import { hasErrors, heldNote, planOutput, resolveScope, tenantFailureLine, verdictOf } from "./PlanRequest.ts"
import { serviceLayer } from "./Runtime.ts"
import { loadSettings, SettingsError, tenantRuntimes } from "./Settings.ts"

export const plan = Command.make(
  "plan",
  {
    config,
    tenant,
    room,
    output,
    confirmDestructive,
    allowEmpty,
    detailedExitcode: Options.boolean("detailed-exitcode").pipe(
      Options.withDescription("exit 0 when in sync, 2 when changes are pending, 1 on error"),
    ),
    daemon: Options.text("daemon").pipe(
      Options.withDescription(
        "print the plan of the daemon at this URL (its HTTP_PORT), computed from its warm cache; needs no database",
      ),
      Options.optional,
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        if (Option.isSome(args.daemon)) {
          if (args.confirmDestructive || args.allowEmpty) {
            return yield* new SettingsError({
              message:
                "--confirm-destructive and --allow-empty do not go with --daemon: the daemon shows what it would do, within its own safety budget",
            })
          }
          const answer = yield* daemonPlan(args.daemon.value, args).pipe(
            Effect.mapError((error) => new SettingsError({ message: error.message })),
          )
          for (const line of answer.stderr) yield* Console.error(line)
          yield* Console.log(answer.stdout)
          return yield* exitFor(answer.verdict, args.detailedExitcode)
        }
        const { settings, scope } = yield* loadScope(args.config, args.tenant, args.room)
        // While a daemon leads, its persisted states are as fresh as its own cache: only
        // rooms it has not read (or that changed since) are read from Matrix.
        const cache = makeStateCache({ maxAge: "1 day" })
        const result = yield* Effect.zipRight(
          warmFromLeader(
            cache,
            scope.tenants.map((r) => r.tenant.id),
          ),
          planPass(scope, passOptions(settings, args)),
        ).pipe(Effect.provide(serviceLayer(settings, { cache })))
        for (const failure of result.failedTenants) yield* Console.error(tenantFailureLine(failure))
        yield* Console.log(planOutput(result, args.output))
        return yield* exitFor(verdictOf(result), args.detailedExitcode)
      }),
    ),
).pipe(Command.withDescription("Compute and print what would change; changes nothing."))

export const apply = Command.make(
  "apply",
  { config, tenant, room, output, confirmDestructive, allowEmpty, waitForLock },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const { settings, scope } = yield* loadScope(args.config, args.tenant, args.room)
        const wait = yield* lockWait(args.waitForLock)
        const layer = serviceLayer(settings)
        const outcome = yield* underLeaderLock(
          settings,
          scope.tenants.map((r) => r.tenant.id),
          wait,
          Effect.gen(function* () {
            yield* (yield* Store).migrate
            yield* closeInterrupted(scope.tenants.map((r) => r.tenant.id))
            const options = passOptions(settings, args)
            const result = yield* planPass(scope, options)
            for (const failure of result.failedTenants) yield* Console.error(tenantFailureLine(failure))
            if (args.output === "text") yield* Console.log(planToText(result.plan))
            // Keys whose plan no longer held when applied (an alias taken meanwhile) are planned again.
            const { applied } = yield* reconcileAgain(result, { ...options, onProgress: progress("applying") })
            return { result, applied }
          }).pipe(Effect.withSpan("reconcile.cycle", { attributes: { trigger: "cli" } }), Effect.provide(layer)),
        )
        if (args.output === "json") {
          yield* Console.log(
            JSON.stringify(
              { plan: planToJson(outcome.result.plan), apply: applyResultToJson(outcome.applied) },
              null,
              2,
            ),
          )
        } else {
          if (outcome.applied.actions.length > 0) yield* Console.log(`\n${applyResultToText(outcome.applied)}`)
          const note = heldNote(outcome.result)
          if (note !== undefined) yield* Console.log(note)
        }
        const failed = outcome.applied.actions.some(
          (a) => a.outcome.result === "failed" || a.outcome.result === "not_attempted",
        )
        if (failed || hasErrors(outcome.result)) return yield* new ExitCode({ code: 1 })
      }),
    ),
).pipe(Command.withDescription("Run one reconcile pass now: plan, then apply every action, then exit."))

export const explain = Command.make(
  "explain",
  {
    config,
    output,
    subject: Args.text({ name: "subject" }).pipe(
      Args.withDescription("a Matrix user (@handle:server) or a room key (event:<tenant>:<id>, group:<tenant>:<id>)"),
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const settings = yield* loadSettings(args.config)
        const runtimes = tenantRuntimes(settings)
        const isUser = args.subject.startsWith("@")
        let scope: Scope
        if (isUser) {
          const server = serverOf(args.subject)
          const tenants = runtimes.filter((r) => r.tenant.serverName === server)
          if (!args.subject.includes(":") || tenants.length === 0) {
            return yield* new SettingsError({
              message: `explain ${args.subject}: no configured tenant has server name ${JSON.stringify(server)}`,
            })
          }
          scope = { tenants, rooms: [] }
        } else {
          // The subject is not a --room option: an error names it as what it is.
          scope = yield* resolveScope(settings, [], [args.subject]).pipe(
            Effect.mapError((error) =>
              error.message.startsWith("--room")
                ? new SettingsError({ message: `explain: ${error.message.slice("--room".length).replace(/^:? /, "")}` })
                : error,
            ),
          )
        }
        const result = yield* planPass(scope, passOptions(settings)).pipe(Effect.provide(serviceLayer(settings)))
        for (const failure of result.failedTenants) yield* Console.error(tenantFailureLine(failure))
        const rooms = result.plan.rooms
          .flatMap((room) => {
            const details = result.details.get(formatRoomKey(room.key))
            if (details === undefined) return []
            return [
              explainRoom(room, details.desired, details.actual, details.context, isUser ? args.subject : undefined),
            ]
          })
          .filter((room) => !isUser || room.members.length > 0)
        yield* Console.log(
          args.output === "json"
            ? JSON.stringify({ formatVersion: 1, subject: args.subject, rooms }, null, 2)
            : explanationToText(args.subject, rooms),
        )
        if (hasErrors(result)) return yield* new ExitCode({ code: 1 })
      }),
    ),
).pipe(
  Command.withDescription(
    "Why a user is (or should be) in each managed room, or why each member of a room is there, rule by rule.",
  ),
)
