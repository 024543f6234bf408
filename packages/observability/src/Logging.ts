import {
  Cause,
  Context,
  Data,
  Either,
  FiberRef,
  FiberRefs,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Tracer,
} from "effect"

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

/** The span a log line was written in, for correlating logs with traces. */
const currentSpan = (context: FiberRefs.FiberRefs): Tracer.AnySpan | undefined =>
  Option.getOrUndefined(Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan))

const toJsonValue = (value: unknown): unknown => {
  if (value instanceof Error) return value.message
  if (typeof value === "bigint") return value.toString()
  return value
}

/**
 * One JSON object per line on stderr: time, level, message, the fiber's annotations (such
 * as `room.key`), the trace and span ids of the current span, the cause of a failure.
 */
export const jsonLogger: Logger.Logger<unknown, void> = Logger.make(
  ({ annotations, cause, context, date, logLevel, message }) => {
    const messages = Array.isArray(message) ? message : [message]
    const line: Record<string, unknown> = {
      time: date.toISOString(),
      level: logLevel.label.toLowerCase(),
      message: messages.map((m) => (typeof m === "string" ? m : JSON.stringify(toJsonValue(m)))).join(" "),
    }
    for (const [key, value] of HashMap.toEntries(annotations)) line[key] = toJsonValue(value)
    const span = currentSpan(context)
    if (span !== undefined) {
      line.traceId = span.traceId
      line.spanId = span.spanId
    }
    if (!Cause.isEmpty(cause)) line.cause = Cause.pretty(cause, { renderErrorCause: true })
    process.stderr.write(`${JSON.stringify(line)}\n`)
  },
)

/**
 * Logs to stderr: JSON lines for the daemon (one object per line, annotations such as
 * room key and trace id as fields), a readable form for a person at the CLI.
 */
export const loggerLayer = (format: LogFormat, level: LogLevel.LogLevel): Layer.Layer<never> =>
  Layer.merge(
    // stderr, always: stdout belongs to the command's output (a plan can be piped to jq).
    Logger.replace(Logger.defaultLogger, format === "json" ? jsonLogger : Logger.prettyLogger({ stderr: true })),
    Logger.minimumLogLevel(level),
  )

/** LOG_FORMAT: `json` or `pretty`. */
export const parseLogFormat = (text: string): Either.Either<LogFormat, LogLevelError> =>
  text === "json" || text === "pretty"
    ? Either.right(text)
    : Either.left(new LogLevelError({ message: `LOG_FORMAT: ${JSON.stringify(text)} is not one of json, pretty` }))
