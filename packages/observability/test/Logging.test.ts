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

  it("writes JSON lines with annotations to stderr, never stdout, and drops lines below the level", () => {
    const stderr = vi.spyOn(console, "error").mockImplementation(() => {})
    const stdout = vi.spyOn(console, "log").mockImplementation(() => {})
    Effect.runSync(
      Effect.gen(function* () {
        yield* Effect.logDebug("hidden")
        yield* Effect.logInfo("applied").pipe(Effect.annotateLogs({ "room.key": "event:t1:42" }))
      }).pipe(Effect.provide(loggerLayer("json", LogLevel.Info))),
    )
    expect(stdout).not.toHaveBeenCalled()
    expect(stderr).toHaveBeenCalledTimes(1)
    const line = JSON.parse(String(stderr.mock.calls[0]?.[0]))
    expect(line).toMatchObject({ message: "applied", logLevel: "INFO", annotations: { "room.key": "event:t1:42" } })
  })
})
