import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { loggerLayer, parseLogLevel } from "@openmeet-reconciler/observability"
import { Cause, Effect, Either, Exit, Option } from "effect"
import { ExitCode, reconciler } from "./Commands.ts"

// matrix-bot-sdk's HTTP library calls the deprecated util._extend on every request;
// the warning says nothing an operator can act on.
process.noDeprecation = true

const cli = Command.run(reconciler, { name: "reconciler", version: "0.1.0" })

const logLevel = parseLogLevel(process.env.LOG_LEVEL ?? "warn")
if (Either.isLeft(logLevel)) {
  process.stderr.write(`error: configuration: ${logLevel.left.message}\n`)
  process.exit(1)
}

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  Effect.provide(loggerLayer("pretty", logLevel.right)),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(0)
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && failure.value instanceof ExitCode) return onExit(failure.value.code)
      if (!Cause.isInterruptedOnly(exit.cause) && Option.isNone(failure)) {
        process.stderr.write(`internal error: ${Cause.pretty(exit.cause)}\n`)
      }
      onExit(Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
    },
  }),
)
