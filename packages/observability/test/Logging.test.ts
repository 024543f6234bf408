import { Effect, Either, LogLevel } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { loggerLayer, parseLogLevel } from "../src/index.ts"

describe("LOG_LEVEL", () => {
  it("accepts the usual names in any case", () => {
    expect(parseLogLevel("DEBUG")).toEqual(Either.right(LogLevel.Debug))
    expect(parseLogLevel(" warn ")).toEqual(Either.right(LogLevel.Warning))
  })

  it("names the setting and the accepted values when wrong", () => {
    const result = parseLogLevel("loud")
    expect(Either.isLeft(result) && result.left.message).toBe(
      'LOG_LEVEL: "loud" is not one of trace, debug, info, warn, warning, error, fatal, none',
    )
  })
})

describe("logger", () => {
  afterEach(() => vi.restoreAllMocks())

  it("writes JSON lines with annotations and the trace id to stderr, never stdout, and drops lines below the level", () => {
    const written: Array<string> = []
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true)
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    const traceId = Effect.runSync(
      Effect.gen(function* () {
        yield* Effect.logDebug("hidden")
        yield* Effect.logInfo("applied").pipe(Effect.annotateLogs({ "room.key": "event:t1:42" }))
        return yield* Effect.gen(function* () {
          yield* Effect.logWarning("in a span")
          return (yield* Effect.currentSpan).traceId
        }).pipe(Effect.withSpan("reconcile.room"))
      }).pipe(Effect.provide(loggerLayer("json", LogLevel.Info))),
    )
    stderr.mockRestore()
    expect(stdout).not.toHaveBeenCalled()
    expect(log).not.toHaveBeenCalled()
    expect(written).toHaveLength(2)
    const [first, second] = written.map((line) => JSON.parse(line))
    expect(first).toMatchObject({ level: "info", message: "applied", "room.key": "event:t1:42" })
    expect(first.traceId).toBeUndefined()
    expect(second).toMatchObject({ level: "warn", message: "in a span", traceId })
    expect(typeof second.spanId).toBe("string")
  })
})
