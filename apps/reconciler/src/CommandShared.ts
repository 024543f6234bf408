/**
 * What every command shares: its options, how it loads settings and scope, and how a
 * failure becomes one clear line on stderr and an exit code.
 */

import { Options } from "@effect/cli"
import type { SqlError } from "@effect/sql/SqlError"
import type { PassOptions, StoreError } from "@openmeet-reconciler/engine"
import type { MatrixRequestError } from "@openmeet-reconciler/matrix"
import { describeMatrixError } from "@openmeet-reconciler/matrix"
import { Console, Data, Duration, Effect, Option } from "effect"
import { progress } from "./Output.ts"
import type { PlanVerdict } from "./PlanRequest.ts"
import { resolveScope } from "./PlanRequest.ts"
import type { Settings } from "./Settings.ts"
import { loadSettings, parseDuration, SettingsError } from "./Settings.ts"

/** The process exit code a command asks for (0 in sync, 2 changes pending, 1 error). */
export class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

export const config = Options.file("config", { exists: "yes" }).pipe(
  Options.withDescription("YAML file with settings (the environment's values win)"),
  Options.optional,
)
export const tenant = Options.text("tenant").pipe(
  Options.withDescription("only this tenant id (repeatable)"),
  Options.repeated,
)
export const room = Options.text("room").pipe(
  Options.withDescription("only this room key, event:<tenant>:<id> or group:<tenant>:<id> (repeatable)"),
  Options.repeated,
)
export const output = Options.choice("output", ["text", "json"]).pipe(
  Options.withDescription("text (Terraform-like) or json (formatVersion 1)"),
  Options.withDefault("text" as const),
)

export const confirmDestructive = Options.boolean("confirm-destructive").pipe(
  Options.withDescription("apply kicks and demotions beyond the safety caps (policy: maxDestructivePerPass, per room)"),
)
export const allowEmpty = Options.boolean("allow-empty").pipe(
  Options.withDescription("apply kicks for a tenant whose desired state is empty while its rooms are not"),
)

/** How a command's pass runs: the configured concurrency, progress on a terminal, its safety flags. */
export const passOptions = (
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
export const loadScope = (
  configFile: Option.Option<string>,
  tenants: ReadonlyArray<string>,
  rooms: ReadonlyArray<string>,
) =>
  Effect.gen(function* () {
    const settings = yield* loadSettings(configFile)
    const scope = yield* resolveScope(settings, tenants, rooms)
    return { settings, scope }
  })

export type CommandError = SettingsError | SqlError | MatrixRequestError | StoreError | ExitCode

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
export const reportFailures = <A, R>(effect: Effect.Effect<A, CommandError, R>): Effect.Effect<A, ExitCode, R> =>
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
export const exitFor = (verdict: PlanVerdict, detailed: boolean) =>
  verdict === "error"
    ? Effect.fail(new ExitCode({ code: 1 }))
    : detailed && verdict === "pending"
      ? Effect.fail(new ExitCode({ code: 2 }))
      : Effect.void

export const waitForLock = Options.text("wait-for-lock").pipe(
  Options.withDescription(
    "how long to wait when the daemon (or another apply) holds the leader lock, e.g. 30s, 5m (default: refuse at once)",
  ),
  Options.optional,
)

/** `--wait-for-lock`: a duration, or no wait at all. */
export const lockWait = (text: Option.Option<string>) =>
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
