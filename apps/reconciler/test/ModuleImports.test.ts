import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

/**
 * What a daemon loads is resident for its whole life. The index of `@effect/platform`
 * (and of `@effect/platform-node`, through `@effect/cluster`) loads every module, among them
 * two API documentation pages kept as JavaScript strings (Scalar, Swagger UI): about 65 MiB
 * of resident memory measured on an idle daemon. The OpenTelemetry SDK is loaded only when
 * traces are exported. These checks keep it so.
 */

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const sources = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  )
const production = [
  ...readdirSync(join(repo, "packages")).map((p) => join(repo, "packages", p, "src")),
  join(repo, "apps", "reconciler", "src"),
].flatMap(sources)

const offending = (pattern: RegExp) =>
  production.filter((file) => pattern.test(readFileSync(file, "utf8"))).map((file) => file.slice(repo.length))

describe("what the reconciler's processes load", () => {
  it("has production sources to check", () => {
    expect(production.length).toBeGreaterThan(50)
  })

  it("imports @effect/platform and @effect/platform-node module by module, never their index", () => {
    expect(offending(/from "@effect\/platform(-node)?"/)).toEqual([])
  })

  it("loads the OpenTelemetry SDK only when traces are exported (no static import)", () => {
    expect(offending(/^import [^\n]* from "@opentelemetry\/sdk-/m)).toEqual([])
  })
})
