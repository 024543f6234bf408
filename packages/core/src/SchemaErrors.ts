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

const issuesWithoutValues = (error: ParseResult.ParseError): ReadonlyArray<string> => {
  let issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>
  try {
    issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  } catch {
    // The formatter prints the value found, recursively: a value nested deeper than the
    // stack (hostile input, e.g. 100,000 nested arrays) is described by its schema alone.
    issues = structural(error.issue, [])
  }
  return issues.map((issue) => {
    const where = issue.path.length === 0 ? "(top)" : issue.path.map(String).join(".")
    // Stryker disable next-line Regex: equivalent, '[\s\S]*' reaches the end without '$', and Effect writes its one 'actual' as ', actual' (ParseResult's formatter); the other changes of these patterns, disabled with them, were killed
    return `${where}: ${issue.message.replace(/,? actual [\s\S]*$/, "").replace(/\s+/g, " ")}`
  })
}

/** The issues of a decoding error from the schema's side only (never touching the value). */
const structural = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<PropertyKey>,
): ReadonlyArray<ParseResult.ArrayFormatterIssue> => {
  const one = (message: string): ReadonlyArray<ParseResult.ArrayFormatterIssue> => [{ _tag: issue._tag, path, message }]
  switch (issue._tag) {
    case "Type":
    case "Forbidden":
      return one(`Expected ${String(issue.ast)}`)
    case "Missing":
      return one("is missing")
    case "Unexpected":
      return one("is unexpected")
    case "Pointer":
      return structural(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])])
    case "Composite":
      return (Array.isArray(issue.issues) ? issue.issues : [issue.issues]).flatMap((inner) => structural(inner, path))
    case "Refinement":
    case "Transformation":
      return structural(issue.issue, path)
  }
}

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
