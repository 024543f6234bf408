import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { loggerLayer, parseLogFormat, parseLogLevel, tracingLayer } from "@openmeet-reconciler/observability"
import { Cause, Effect, Either, Exit, LogLevel, Option } from "effect"
import { ExitCode, reconciler } from "./Commands.ts"

// matrix-bot-sdk's HTTP library calls the deprecated util._extend on every request;
// the warning says nothing an operator can act on.
process.noDeprecation = true

const cli = Command.run(reconciler, { name: "reconciler", version: "0.1.0" })

// The daemon logs JSON lines at info for log collectors; a person at the CLI reads warnings.
const daemon = process.argv[2] === "run"
const logLevel = parseLogLevel(process.env.LOG_LEVEL ?? (daemon ? "info" : "warn"))
const logFormat = parseLogFormat(process.env.LOG_FORMAT ?? (daemon ? "json" : "pretty"))
for (const problem of [Either.getLeft(logLevel), Either.getLeft(logFormat)]) {
  if (Option.isSome(problem)) {
    process.stderr.write(`error: configuration: ${problem.value.message}\n`)
    process.exit(1)
  }
}

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  Effect.provide(tracingLayer("0.1.0")),
  Effect.provide(
    loggerLayer(
      Either.getOrElse(logFormat, () => "pretty"),
      Either.getOrElse(logLevel, () => LogLevel.Warning),
    ),
  ),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(0)
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && failure.value instanceof ExitCode) return onExit(failure.value.code)
      if (!Cause.isInterruptedOnly(exit.cause) && Option.isNone(failure)) {
        process.stderr.write(`internal error: ${Cause.pretty(exit.cause)}\n`)
      }
      // The daemon's normal end is a signal; a command interrupted mid-way is not.
      onExit(Cause.isInterruptedOnly(exit.cause) ? (daemon ? 0 : 130) : 1)
    },
  }),
)
