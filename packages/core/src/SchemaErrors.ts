import { ParseResult } from "effect"

/**
 * A decoding error as one line per problem, `path: what was expected`, without the
 * values found: configuration holds tokens, and an error message must never show one.
 */
export const describeWithoutValues = (error: ParseResult.ParseError): string =>
  issuesWithoutValues(error)
    .map((issue) => `  ${issue}`)
    .join("\n")

/** The same on one line (`path: expected; path: expected`), for a log line. */
export const describeWithoutValuesInline = (error: ParseResult.ParseError): string =>
  issuesWithoutValues(error).join("; ")

const issuesWithoutValues = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
    const where = issue.path.length === 0 ? "(top)" : issue.path.map(String).join(".")
    return `${where}: ${issue.message.replace(/,? actual [\s\S]*$/, "").replace(/\s+/g, " ")}`
  })

/** Where a YAML or JSON parser stopped, without the text around it (it may hold a secret). */
export const parsePosition = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "linePos" in error && Array.isArray(error.linePos)) {
    const start: unknown = error.linePos[0]
    if (typeof start === "object" && start !== null && "line" in start && "col" in start) {
      return `at line ${String(start.line)}, column ${String(start.col)}`
    }
  }
  const position = error instanceof Error ? /position (\d+)/.exec(error.message) : null
  return position === null ? "" : `at character ${position[1]}`
}
