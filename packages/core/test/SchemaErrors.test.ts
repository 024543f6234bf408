import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { describeWithoutValues, describeWithoutValuesInline } from "../src/index.ts"

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
