import { randomBytes } from "node:crypto"
import { Args, Command, Options } from "@effect/cli"
import type { SqlError } from "@effect/sql/SqlError"
import {
  explainRoom,
  explanationToText,
  formatRoomKey,
  planToJson,
  planToText,
  serverOf,
} from "@openmeet-reconciler/core"
import type { PassOptions, Scope, StoreError } from "@openmeet-reconciler/engine"
import { closeInterrupted, planPass, reconcileAgain, Store, warmFromLeader } from "@openmeet-reconciler/engine"
import type { MatrixRequestError } from "@openmeet-reconciler/matrix"
import { describeMatrixError, makeStateCache, renderRegistration } from "@openmeet-reconciler/matrix"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import { installTriggers, uninstallTriggers } from "@openmeet-reconciler/openmeet"
import { Console, Data, Duration, Effect, Option, Redacted } from "effect"
import { runAdopt } from "./Adopt.ts"
import { runDaemon } from "./Daemon.ts"
import { underLeaderLock } from "./Lock.ts"
import { applyResultToJson, applyResultToText, progress, statusToJson, statusToText } from "./Output.ts"
import { daemonPlan } from "./PlanEndpoint.ts"
import type { PlanVerdict } from "./PlanRequest.ts"
import { hasErrors, heldNote, planOutput, resolveScope, tenantFailureLine, verdictOf } from "./PlanRequest.ts"
import { databaseLayer, pgLayer, serviceLayer } from "./Runtime.ts"
import type { Settings } from "./Settings.ts"
import {
  loadAdoptSettings,
  loadDaemonSettings,
  loadRegistrationSettings,
  loadSettings,
  loadTriggerSettings,
  parseDuration,
  SettingsError,
  tenantRuntimes,
} from "./Settings.ts"

/** The process exit code a command asks for (0 in sync, 2 changes pending, 1 error). */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

const config = Options.file("config", { exists: "yes" }).pipe(
  Options.withDescription("YAML file with settings (the environment's values win)"),
  Options.optional,
)
const tenant = Options.text("tenant").pipe(
  Options.withDescription("only this tenant id (repeatable)"),
  Options.repeated,
)
const room = Options.text("room").pipe(
  Options.withDescription("only this room key, event:<tenant>:<id> or group:<tenant>:<id> (repeatable)"),
  Options.repeated,
)
const output = Options.choice("output", ["text", "json"]).pipe(
  Options.withDescription("text (Terraform-like) or json (formatVersion 1)"),
  Options.withDefault("text" as const),
)

const confirmDestructive = Options.boolean("confirm-destructive").pipe(
  Options.withDescription("apply kicks and demotions beyond the safety caps (policy: maxDestructivePerPass, per room)"),
)
const allowEmpty = Options.boolean("allow-empty").pipe(
  Options.withDescription("apply kicks for a tenant whose desired state is empty while its rooms are not"),
)

/** How a command's pass runs: the configured concurrency, progress on a terminal, its safety flags. */
const passOptions = (
  settings: Settings,
  flags: { readonly confirmDestructive: boolean; readonly allowEmpty: boolean } = {
    confirmDestructive: false,
    allowEmpty: false,
  },
): PassOptions => ({
  concurrency: settings.concurrency,
  onProgress: progress("reading Matrix"),
  safety: { confirmDestructive: flags.confirmDestructive, allowEmpty: flags.allowEmpty },
})

/** The settings, and the tenants and rooms the command looks at. */
const loadScope = (configFile: Option.Option<string>, tenants: ReadonlyArray<string>, rooms: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const settings = yield* loadSettings(configFile)
    const scope = yield* resolveScope(settings, tenants, rooms)
    return { settings, scope }
  })

type CommandError = SettingsError | SqlError | MatrixRequestError | StoreError | ExitCode

const describeFailure = (error: Exclude<CommandError, ExitCode>): string => {
  switch (error._tag) {
    case "SettingsError":
      return `configuration: ${error.message}`
    case "SqlError":
      return `OpenMeet database (DATABASE_URL): ${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ""}`
    case "StoreError":
      return `the reconciler's schema (RECONCILER_SCHEMA): ${error.operation}: ${error.message}`
    default:
      return `homeserver (MATRIX_HOMESERVER_URL): ${describeMatrixError(error)}`
  }
}

/** Turns every failure into one clear line on stderr and exit code 1. */
const reportFailures = <A, R>(effect: Effect.Effect<A, CommandError, R>): Effect.Effect<A, ExitCode, R> =>
  effect.pipe(
    Effect.catchAll((error) =>
      error._tag === "ExitCode"
        ? Effect.fail(error)
        : Console.error(`error: ${describeFailure(error)}`).pipe(
            Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))),
          ),
    ),
  )

/** Exit 1 on errors; 2 with --detailed-exitcode when changes are pending. */
const exitFor = (verdict: PlanVerdict, detailed: boolean) =>
  verdict === "error"
    ? Effect.fail(new ExitCode({ code: 1 }))
    : detailed && verdict === "pending"
      ? Effect.fail(new ExitCode({ code: 2 }))
      : Effect.void

const plan = Command.make(
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

const waitForLock = Options.text("wait-for-lock").pipe(
  Options.withDescription(
    "how long to wait when the daemon (or another apply) holds the leader lock, e.g. 30s, 5m (default: refuse at once)",
  ),
  Options.optional,
)

const apply = Command.make(
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

/** `--wait-for-lock`: a duration, or no wait at all. */
const lockWait = (text: Option.Option<string>) =>
  Option.match(text, {
    onNone: () => Effect.succeed(Duration.zero),
    onSome: (value) =>
      Option.match(parseDuration(value), {
        onNone: () =>
          Effect.fail(
            new SettingsError({
              message: `--wait-for-lock ${JSON.stringify(value)}: expected a duration like 30s or 5m`,
            }),
          ),
        onSome: Effect.succeed,
      }),
  })

const explain = Command.make(
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

const status = Command.make("status", { config, output }, (args) =>
  reportFailures(
    Effect.gen(function* () {
      const settings = yield* loadSettings(args.config)
      const report = yield* Effect.flatMap(Store, (store) => store.status).pipe(Effect.provide(databaseLayer(settings)))
      yield* Console.log(args.output === "json" ? JSON.stringify(statusToJson(report), null, 2) : statusToText(report))
    }),
  ),
).pipe(Command.withDescription("Rooms by status, blocked rooms and the last pass, from the reconciler's own tables."))

const tenantFilter = (all: ReadonlyArray<Tenant>, wanted: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const id of wanted) {
      if (!all.some((t) => t.id === id)) {
        return yield* new SettingsError({
          message: `--tenant ${JSON.stringify(id)}: no such tenant; configured: ${all.map((t) => JSON.stringify(t.id)).join(", ")}`,
        })
      }
    }
    return wanted.length === 0 ? all : all.filter((t) => wanted.includes(t.id))
  })

const triggerCommand = (name: "install-triggers" | "uninstall-triggers") =>
  Command.make(name, { config, tenant }, (args) =>
    reportFailures(
      Effect.gen(function* () {
        const settings = yield* loadTriggerSettings(args.config)
        const tenants = yield* tenantFilter(settings.tenants, args.tenant)
        const done = yield* (
          name === "install-triggers" ? installTriggers(tenants, settings.notifyChannel) : uninstallTriggers(tenants)
        ).pipe(
          Effect.provide(pgLayer(settings.databaseUrl)),
          Effect.mapError((error) =>
            error._tag === "TriggerError"
              ? new SettingsError({
                  message: `${name}${error.tenant === "" ? "" : ` (tenant ${JSON.stringify(error.tenant)})`}: ${error.message}`,
                })
              : error,
          ),
          Effect.as(tenants.map((t) => `${t.id === "" ? '""' : t.id} (${t.schema})`)),
        )
        yield* Console.log(
          name === "install-triggers"
            ? `Installed NOTIFY triggers (channel ${settings.notifyChannel}) for ${done.join(", ")} and on public."matrixHandleRegistry". Restart the daemon to switch from polling to LISTEN.`
            : `Removed the triggers of ${done.join(", ")} and of public."matrixHandleRegistry". The daemon polls after its next restart.`,
        )
      }),
    ),
  ).pipe(
    Command.withDescription(
      name === "install-triggers"
        ? "Install opt-in Postgres triggers that NOTIFY the daemon of changes (needs rights to create functions and triggers)."
        : "Remove the triggers install-triggers made.",
    ),
  )

const registration = Command.make(
  "registration",
  {
    config,
    url: Options.text("url").pipe(
      Options.withDescription(
        "where the homeserver reaches the daemon's appservice API (default: the current registration's, else http://127.0.0.1:APPSERVICE_PORT)",
      ),
      Options.optional,
    ),
    namespaces: Options.choice("namespaces", ["minimal", "openmeet"]).pipe(
      Options.withDescription(
        "minimal: only what the reconciler needs; openmeet: OpenMeet's own namespaces, to replace its registration while OpenMeet's API keeps its token",
      ),
      Options.withDefault("minimal" as const),
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const settings = yield* loadRegistrationSettings(args.config)
        const current = settings.current
        // The homeserver refuses a registration whose url it cannot use: say so now, not at its restart.
        if (Option.isSome(args.url) && !/^https?:\/\/[^\s]+$/.test(args.url.value)) {
          return yield* new SettingsError({
            message: `--url ${JSON.stringify(args.url.value)}: not an http(s) URL, e.g. http://reconciler:9000`,
          })
        }
        const token = () => randomBytes(32).toString("hex")
        yield* Console.log(
          renderRegistration({
            id: current?.id ?? "openmeet-reconciler",
            url: Option.getOrElse(args.url, () => current?.url ?? `http://127.0.0.1:${settings.appservicePort}`),
            asToken: current === undefined ? token() : Redacted.value(current.asToken),
            hsToken: current === undefined ? token() : Redacted.value(current.hsToken),
            senderLocalpart: current?.senderLocalpart ?? "openmeet-bot",
            tenants: settings.tenants.map((t) => ({
              id: t.id,
              serverName: t.serverName,
              joinMode: settings.joinModeTenants.has(t.id),
            })),
            namespaces: args.namespaces,
          }).trimEnd(),
        )
      }),
    ),
).pipe(
  Command.withDescription(
    "Print an appservice registration YAML for the configured tenants: the tokens of APPSERVICE_REGISTRATION when it exists, new ones otherwise.",
  ),
)

const adopt = Command.make(
  "adopt",
  {
    config,
    tenant,
    room,
    output,
    waitForLock,
    confirm: Options.boolean("confirm").pipe(
      Options.withDescription(
        "call Synapse's make_room_admin for the bot in the rooms listed and join it (needs SYNAPSE_ADMIN_TOKEN)",
      ),
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const { settings, scope } = yield* loadScope(args.config, args.tenant, args.room)
        const { adminToken } = yield* loadAdoptSettings(args.config)
        const wait = yield* lockWait(args.waitForLock)
        const code = yield* runAdopt({
          settings,
          scope,
          adminToken,
          confirm: args.confirm,
          output: args.output,
          wait,
        }).pipe(Effect.provide(serviceLayer(settings)))
        if (code !== 0) return yield* new ExitCode({ code })
      }),
    ),
).pipe(
  Command.withDescription(
    "List the rooms where the bot lacks power (OpenMeet's legacy rooms) and what Synapse's make_room_admin would change; with --confirm, adopt them.",
  ),
)

const run = Command.make("run", { config }, (args) =>
  reportFailures(
    Effect.gen(function* () {
      const settings = yield* loadSettings(args.config)
      const daemon = yield* loadDaemonSettings(args.config)
      return yield* runDaemon(settings, daemon)
    }),
  ),
).pipe(
  Command.withDescription(
    "The daemon: work queue, workers, periodic resync, database and Matrix triggers, /metrics, /healthz, /readyz.",
  ),
)

export const reconciler = Command.make("reconciler").pipe(
  Command.withDescription("OpenMeet Matrix Reconciler: keeps Matrix rooms as OpenMeet's database says."),
  Command.withSubcommands([
    run,
    plan,
    apply,
    adopt,
    explain,
    status,
    registration,
    triggerCommand("install-triggers"),
    triggerCommand("uninstall-triggers"),
  ]),
)
