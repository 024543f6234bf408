import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { afterAll, describe, expect, it } from "vitest"
import { repoPath } from "./repo.ts"

/**
 * infra/grafana/reconciler.json against Grafana's own schema of a dashboard: the
 * `Dashboard` type that @grafana/schema generates from Grafana's CUE kinds. The JSON is
 * written into a TypeScript module as an object literal typed `Dashboard` and compiled:
 * a wrong type, a misspelt or unknown key (excess property check), or a value outside an
 * enumeration is a compile error. String enumerations are compared by their values.
 */

const dir = fileURLToPath(new URL("../.schema-check/", import.meta.url))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The compiler's diagnostics for `json` typed as Grafana's Dashboard. */
const check = (name: string, json: string): ReadonlyArray<string> => {
  mkdirSync(dir, { recursive: true })
  const file = `${dir}${name}.ts`
  writeFileSync(
    file,
    `import type { Dashboard } from "@grafana/schema"
// JSON has no enum types: a string enumeration's values, a numeric one's numbers.
type Json<T> = T extends string ? \`\${T}\` : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer E> ? ReadonlyArray<Json<E>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T
export const dashboard: Json<Dashboard> = ${json}
`,
  )
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    exactOptionalPropertyTypes: false,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  })
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where =
      d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined
    return `${where === undefined ? "" : `line ${where.line + 1}: `}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
  })
}

describe("the Grafana dashboard against Grafana's schema (@grafana/schema)", () => {
  // `__inputs`, `__requires` and `__elements` are the envelope of Grafana's "export for
  // sharing" (what an import needs: plugins, data sources), not part of the dashboard model.
  const {
    __inputs: _i,
    __requires: _r,
    __elements: _e,
    ...model
  } = JSON.parse(readFileSync(repoPath("infra/grafana/reconciler.json"), "utf8"))
  const json = JSON.stringify(model, null, 2)

  it("is a valid Dashboard", () => {
    expect(check("dashboard", json)).toEqual([])
  })

  it("would not be with an unknown key, a wrong type or a value outside an enumeration", () => {
    const board = JSON.parse(json)
    expect(check("unknown-key", JSON.stringify({ ...board, pannels: [] })).join("\n")).toContain("pannels")
    expect(check("wrong-type", JSON.stringify({ ...board, editable: "yes" })).length).toBeGreaterThan(0)
    const panel = {
      ...board.panels[1],
      fieldConfig: { defaults: { thresholds: { mode: "relative", steps: [] } }, overrides: [] },
    }
    expect(check("enum", JSON.stringify({ ...board, panels: [panel] })).join("\n")).toContain("relative")
  })
})
