import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

// Records, in the child, every module the CLI resolves while it starts (the daemon's imports
// are the same static graph), then writes them as JSON to MODULES_OUT at exit.
const recorder = `
import { registerHooks } from "node:module"
import { writeFileSync } from "node:fs"
const seen = new Set()
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r } })
process.on("exit", () => writeFileSync(process.env.MODULES_OUT, JSON.stringify([...seen])))
`

const loadedModules = async (env: NodeJS.ProcessEnv): Promise<ReadonlyArray<string>> => {
  const dir = await mkdtemp(join(tmpdir(), "modules-"))
  try {
    const out = join(dir, "modules.json")
    await promisify(execFile)(
      process.execPath,
      ["--import", "data:text/javascript," + encodeURIComponent(recorder), main, "--version"],
      { env: { PATH: process.env.PATH, ...env, MODULES_OUT: out } },
    )
    return JSON.parse(await readFile(out, "utf8")) as ReadonlyArray<string>
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// Every module loaded stays resident for the daemon's life: the barrels of @effect/platform and
// @effect/platform-node and the OpenTelemetry SDK cost about 55 MiB of an idle daemon's memory
// (docs/benchmarks.md, footprint) and none of it is used unless OTLP export is configured.
describe("what the reconciler loads at start", () => {
  it("loads neither the platform barrels nor the OpenTelemetry SDK when OTLP is not configured", async () => {
    const modules = await loadedModules({})
    const loaded = (pattern: RegExp) => modules.filter((url) => pattern.test(url))
    expect(loaded(/\/@effect\/platform\/dist\/esm\/index\.js$/)).toEqual([])
    expect(loaded(/\/@effect\/platform-node\/dist\/esm\/index\.js$/)).toEqual([])
    expect(loaded(/\/@effect\/opentelemetry\/dist\/esm\/index\.js$/)).toEqual([])
    expect(loaded(/\/node_modules\/@opentelemetry\/(sdk-node|sdk-metrics|sdk-logs)\//)).toEqual([])
    // The recorder itself works: the modules the CLI does need are seen.
    expect(loaded(/\/@effect\/platform\/dist\/esm\/HttpServer\.js$/).length).toBe(1)
    expect(loaded(/\/@effect\/cli\//).length).toBeGreaterThan(0)
  })
})
