import { readFileSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { repoPath } from "./repo.ts"
import { cleanTypeChecks, typeCheck } from "./typecheck.ts"

/**
 * infra/grafana/reconciler.json against Grafana's own schema of a dashboard: the
 * `Dashboard` type that @grafana/schema generates from Grafana's CUE kinds (typecheck.ts).
 */

afterAll(cleanTypeChecks)

const dashboard = (name: string, value: unknown) => ({ name, module: "@grafana/schema", type: "Dashboard", value })

describe("the Grafana dashboard against Grafana's schema (@grafana/schema)", () => {
  // `__inputs`, `__requires` and `__elements` are the envelope of Grafana's "export for
  // sharing" (what an import needs: plugins, data sources), not part of the dashboard model.
  const {
    __inputs: _i,
    __requires: _r,
    __elements: _e,
    ...model
  } = JSON.parse(readFileSync(repoPath("infra/grafana/reconciler.json"), "utf8"))

  it("is a valid Dashboard", () => {
    expect(typeCheck([dashboard("dashboard", model)])).toEqual([])
  })

  it("would not be with an unknown key, a wrong type or a value outside an enumeration", () => {
    const panel = {
      ...model.panels[1],
      fieldConfig: { defaults: { thresholds: { mode: "relative", steps: [] } }, overrides: [] },
    }
    const problems = typeCheck([
      dashboard("unknown-key", { ...model, pannels: [] }),
      dashboard("wrong-type", { ...model, editable: "yes" }),
      dashboard("enum", { ...model, panels: [panel] }),
    ])
    expect(problems.filter((p) => p.startsWith("unknown-key:")).join("\n")).toContain("pannels")
    expect(problems.filter((p) => p.startsWith("wrong-type:")).length).toBeGreaterThan(0)
    expect(problems.filter((p) => p.startsWith("enum:")).join("\n")).toContain("relative")
  })
})
