/**
 * Renders the settings table (src/SettingsReference.ts) into README.md and docs/deploy.md,
 * between their markers. `--write` rewrites the files; without it, prints the table and
 * exits 1 when a file is out of date (the test "settings tables" does the same check).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { renderSettingsTable, withSettingsTable } from "../src/SettingsReference.ts"

export const documentsWithSettingsTable = ["README.md", "docs/deploy.md"] as const

const repo = new URL("../../../", import.meta.url)
const write = process.argv.includes("--write")
let stale = 0
for (const path of documentsWithSettingsTable) {
  const text = readFileSync(new URL(path, repo), "utf8")
  const updated = withSettingsTable(text)
  if (updated === undefined) {
    process.stderr.write(`${path}: no settings table markers\n`)
    stale++
  } else if (updated !== text) {
    if (write) writeFileSync(new URL(path, repo), updated)
    else stale++
    process.stderr.write(`${path}: ${write ? "updated" : "out of date"}\n`)
  }
}
if (!write) process.stdout.write(`${renderSettingsTable()}\n`)
process.exitCode = stale > 0 && !write ? 1 : 0
