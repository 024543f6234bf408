import { Effect, Either, ParseResult, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { describeWithoutValues, describeWithoutValuesInline, parsePosition } from "../src/index.ts"

describe("describeWithoutValues", () => {
  it("names the path and what was expected, never the value found", () => {
    const decoded = Schema.decodeUnknownEither(Schema.Struct({ as_token: Schema.String, id: Schema.String }))(
      { as_token: 4242424242 },
      { errors: "all" },
    )
    if (Either.isRight(decoded)) throw new Error("expected a decoding error")
    const text = describeWithoutValues(decoded.left)
    expect(text).toContain("as_token: Expected string")
    expect(text).toContain("id: is missing")
    expect(text).not.toContain("4242424242")
  })

  it("describes a value nested too deep to print by what was expected (no stack overflow)", () => {
    const deep: unknown = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)
    const decoded = Schema.decodeUnknownEither(Schema.Struct({ events: Schema.Array(Schema.Unknown) }))(deep)
    if (Either.isRight(decoded)) throw new Error("expected a decoding error")
    expect(describeWithoutValuesInline(decoded.left)).toBe(
      "(top): Expected { readonly events: ReadonlyArray<unknown> }",
    )
  })
})

describe("errors too deep to print, and where a parser stopped (mutation testing, docs/reliability.md)", () => {
  it("names each problem of a value nested too deep by its path and the schema: missing, unexpected, mistyped", () => {
    const deep: unknown = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)
    const schema = Schema.Struct({
      events: Schema.Array(Schema.Number),
      token: Schema.String,
      port: Schema.NumberFromString,
      name: Schema.NonEmptyString,
      // Decoded synchronously, a schema that runs effects is a Forbidden issue.
      slow: Schema.transformOrFail(Schema.String, Schema.String, {
        decode: (text) => Effect.delay(Effect.succeed(text), "1 millis"),
        encode: ParseResult.succeed,
      }),
    })
    const decoded = Schema.decodeUnknownEither(schema)(
      { events: deep, extra: "s3cret", port: "s3cret", name: "", slow: "s3cret" },
      { errors: "all", onExcessProperty: "error" },
    )
    if (Either.isRight(decoded)) throw new Error("expected a decoding error")
    expect(describeWithoutValues(decoded.left).split("\n")).toEqual([
      "  extra: is unexpected",
      "  events.0: Expected number",
      "  token: is missing",
      "  port: Expected NumberFromString",
      "  name: Expected NonEmptyString",
      "  slow: Expected (string <-> string)",
    ])
    // Stopped at the first problem, the issue holds it alone.
    const first = Schema.decodeUnknownEither(Schema.Struct({ events: Schema.Array(Schema.Number) }))({ events: deep })
    if (Either.isRight(first)) throw new Error("expected a decoding error")
    expect(describeWithoutValuesInline(first.left)).toBe("events.0: Expected number")
  })

  it("on one line, drops the value found however it is written, and a message's line breaks", () => {
    const note = Schema.String.annotations({ message: () => "a note,\n   written on one line" })
    const decoded = Schema.decodeUnknownEither(Schema.Struct({ as_token: Schema.String, id: Schema.String, note }))(
      { as_token: { note: "my s3cret\n token" }, note: 1 },
      { errors: "all" },
    )
    if (Either.isRight(decoded)) throw new Error("expected a decoding error")
    expect(describeWithoutValuesInline(decoded.left)).toBe(
      "as_token: Expected string; id: is missing; note: a note, written on one line",
    )
  })

  it("tells where a parser stopped, never the text around it", () => {
    const jsonError = (() => {
      try {
        JSON.parse('{"token":"s3cret",}')
      } catch (error) {
        return error
      }
    })()
    expect(parsePosition(jsonError)).toBe("at character 18")
    // A YAML parser's error (the yaml package) carries line and column.
    expect(parsePosition({ linePos: [{ line: 3, col: 7 }], message: "s3cret" })).toBe("at line 3, column 7")
    for (const unplaced of [new Error("s3cret"), { linePos: [] }, { linePos: [null] }, null, "s3cret"]) {
      expect(parsePosition(unplaced)).toBe("")
    }
  })
})
