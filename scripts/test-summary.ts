/**
 * Prints one closing line for the whole suite, "tests: N passed, N failed", from the
 * JSON reports every package's vitest run wrote. Exits 1 when a report is missing,
 * a test failed, or no test ran at all.
 */
import { existsSync, readFileSync } from "node:fs"

let passed = 0
let failed = 0
let skipped = 0
const missing: Array<string> = []
for (const dir of process.argv.slice(2)) {
  const file = `${dir}/.vitest/results.json`
  if (!existsSync(file)) {
    missing.push(dir)
    continue
  }
  const report: unknown = JSON.parse(readFileSync(file, "utf8"))
  const count = (key: string): number => {
    const value: unknown = typeof report === "object" && report !== null ? Reflect.get(report, key) : undefined
    return typeof value === "number" ? value : 0
  }
  passed += count("numPassedTests")
  failed += count("numFailedTests")
  skipped += count("numPendingTests") + count("numTodoTests")
}
if (missing.length > 0) process.stderr.write(`no test report from: ${missing.join(", ")}\n`)
process.stdout.write(`tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}\n`)
process.exit(missing.length > 0 || failed > 0 || passed === 0 ? 1 : 0)
