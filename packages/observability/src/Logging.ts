import { Data, Either, Layer, Logger, LogLevel } from "effect"

export type LogFormat = "json" | "pretty"

export class LogLevelError extends Data.TaggedError("LogLevelError")<{ readonly message: string }> {}

const levels: Record<string, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
}

/** Parses LOG_LEVEL (trace, debug, info, warn, error, fatal, none; any case). */
export const parseLogLevel = (text: string): Either.Either<LogLevel.LogLevel, LogLevelError> => {
  const level = levels[text.trim().toLowerCase()]
  return level === undefined
    ? Either.left(
        new LogLevelError({
          message: `LOG_LEVEL: ${JSON.stringify(text)} is not one of ${Object.keys(levels).join(", ")}`,
        }),
      )
    : Either.right(level)
}

/**
 * Logs to stderr: JSON lines for the daemon (one object per line, annotations such as
 * room key and trace id as fields), a readable form for a person at the CLI.
 */
export const loggerLayer = (format: LogFormat, level: LogLevel.LogLevel): Layer.Layer<never> =>
  Layer.merge(
    // stderr, always: stdout belongs to the command's output (a plan can be piped to jq).
    Logger.replace(
      Logger.defaultLogger,
      Logger.withConsoleError(format === "json" ? Logger.jsonLogger : Logger.prettyLoggerDefault),
    ),
    Logger.minimumLogLevel(level),
  )
