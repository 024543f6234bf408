import { execFileSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { readRepoFile, repoPath } from "./repo.ts"

/**
 * docs/deploy.md's systemd steps as a Debian user follows them: the Prometheus
 * configuration it shows, with the rules file copied where it says, passes promtool, and
 * scrapes the port the example environment file gives the reconciler.
 */

const dir = mkdtempSync(join(tmpdir(), "deploy-doc-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const systemdSection = (): string => {
  const doc = readRepoFile("docs/deploy.md")
  const start = doc.indexOf("\n## systemd")
  return doc.slice(start, doc.indexOf("\n## ", start + 1))
}

/** The fenced blocks of a language in a text, without their common indentation. */
const blocks = (text: string, language: string): ReadonlyArray<string> =>
  [...text.matchAll(new RegExp(`^( *)\`\`\`${language}\\n([\\s\\S]*?)^\\1\`\`\``, "gm"))].map((match) =>
    (match[2] ?? "")
      .split("\n")
      .map((line) => line.slice((match[1] ?? "").length))
      .join("\n"),
  )

describe("docs/deploy.md, systemd", () => {
  it("shows a Prometheus configuration that promtool accepts with the alert rules where the doc copies them", () => {
    const [config] = blocks(systemdSection(), "yaml")
    expect(config).toContain("openmeet-reconciler")
    // `cp infra/prometheus/alerts.yaml /etc/prometheus/<name>`, as the doc says.
    const copied = /cp infra\/prometheus\/alerts\.yaml \/etc\/prometheus\/(\S+)/.exec(systemdSection())?.[1] ?? ""
    copyFileSync(repoPath("infra/prometheus/alerts.yaml"), join(dir, copied))
    writeFileSync(join(dir, "prometheus.yml"), config ?? "")
    const promtool = execFileSync("bash", [repoPath("infra/dev/promtool.sh"), "--which", "promtool"], {
      encoding: "utf8",
    }).trim()
    const output = execFileSync(promtool, ["check", "config", join(dir, "prometheus.yml")], { encoding: "utf8" })
    // Every rule of the file, read where the doc copies it.
    const rules = (readFileSync(repoPath("infra/prometheus/alerts.yaml"), "utf8").match(/^\s+- alert: /gm) ?? []).length
    expect(rules).toBeGreaterThan(0)
    expect(output).toContain(`SUCCESS: ${rules} rules found`)
  })

  it("scrapes the port the example environment file gives the reconciler", () => {
    const [config] = blocks(systemdSection(), "yaml")
    const scrape: unknown = parse(config ?? "")
    const text = JSON.stringify(scrape)
    const port = /HTTP_PORT=(\d+)/.exec(readFileSync(repoPath("infra/systemd/reconciler.env"), "utf8"))?.[1]
    expect(port).toBeDefined()
    expect(text).toContain(`127.0.0.1:${port}`)
    expect(port).not.toBe("9090")
  })
})
