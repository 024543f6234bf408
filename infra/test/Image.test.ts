import { execFileSync, spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { DockerfileParser, type Instruction } from "dockerfile-ast"
import { validate } from "dockerfile-utils"
import { afterAll, describe, expect, it } from "vitest"
import { dockerIgnored, repoPath, repoRoot } from "./repo.ts"

/**
 * The Dockerfile without a Docker engine: linted (dockerfile-utils, the VS Code Docker
 * extension's validator), its rules checked (non-root, production dependencies, health
 * check, entrypoint), and its `deps` stage replayed outside Docker: the files it copies,
 * filtered by .dockerignore, get the same `pnpm install` (offline, from the local store),
 * and the reconciler must then start from them. Where `docker info` answers, the image is
 * also built for real.
 */

const dockerfile = readFileSync(repoPath("Dockerfile"), "utf8")
const parsed = DockerfileParser.parse(dockerfile)
const instructions = parsed.getInstructions()

/** The instructions of each stage (a FROM starts one). */
const stages = (): ReadonlyArray<ReadonlyArray<Instruction>> => {
  const result: Array<Array<Instruction>> = []
  for (const instruction of instructions) {
    if (instruction.getKeyword() === "FROM") result.push([])
    result[result.length - 1]?.push(instruction)
  }
  return result
}
const of = (stage: ReadonlyArray<Instruction>, keyword: string) => stage.filter((i) => i.getKeyword() === keyword)
const text = (instruction: Instruction | undefined): string => instruction?.getArgumentsContent() ?? ""
/** The JSON array of an exec-form instruction (after its flags, and after `CMD` for HEALTHCHECK). */
const execForm = (instruction: Instruction | undefined): ReadonlyArray<string> => {
  const content = text(instruction)
  const json = content.slice(content.indexOf("["))
  const value: unknown = JSON.parse(json)
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`not exec form: ${content}`)
  return value
}

/** The app's size budget in the image (docs/deploy.md "Image"): node_modules and sources. */
const appBudgetBytes = 130 * 1024 * 1024

/** A workspace package's folder and those of the workspace packages it needs at run time, recursively. */
const workspaceClosure = (dir: string): ReadonlyArray<string> => {
  const folders = new Map(
    ["packages", "apps"]
      .flatMap((parent) => readdirSync(repoPath(parent)).map((name) => `${parent}/${name}`))
      .map((folder) => [
        (JSON.parse(readFileSync(repoPath(`${folder}/package.json`), "utf8")) as { name: string }).name,
        folder,
      ]),
  )
  const manifest = JSON.parse(readFileSync(repoPath(`${dir}/package.json`), "utf8")) as {
    dependencies?: Record<string, string>
  }
  const own = Object.entries(manifest.dependencies ?? {}).flatMap(([name, version]) =>
    version.startsWith("workspace:") ? [folders.get(name) ?? `unknown workspace package ${name}`] : [],
  )
  return [...new Set([dir, ...own.flatMap(workspaceClosure)])].sort()
}

describe("Dockerfile", () => {
  it("passes the linter with no problem", () => {
    expect(validate(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([])
  })

  it("has two stages on a pinned Node 22 slim image, and the runtime stage runs as a numeric non-root user", () => {
    const all = stages()
    expect(all).toHaveLength(2)
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? ""
    expect(image).toMatch(/^node:22\.\d+\.\d+-[a-z]+-slim$/)
    const runtime = all[1] ?? []
    const users = of(runtime, "USER").map(text)
    expect(users).toHaveLength(1)
    expect(users[0]).toMatch(/^[1-9]\d*:[1-9]\d*$/)
    // Nothing after USER runs as root again, and the runtime stage runs no command at all.
    expect(of(runtime, "RUN")).toEqual([])
  })

  it("installs production dependencies only, from the frozen lockfile, with no install scripts", () => {
    const installs = (stages()[0] ?? []).filter((i) => i.getKeyword() === "RUN" && text(i).startsWith("pnpm install"))
    expect(installs).toHaveLength(1)
    const install = text(installs[0])
    for (const flag of [
      "--frozen-lockfile",
      "--prod",
      "--ignore-scripts",
      '--filter "@openmeet-reconciler/reconciler..."',
    ]) {
      expect(install).toContain(flag)
    }
  })

  it("checks /healthz, enters `reconciler run`, exposes both ports", () => {
    const runtime = stages()[1] ?? []
    const healthcheck = of(runtime, "HEALTHCHECK")
    expect(healthcheck).toHaveLength(1)
    expect(execForm(healthcheck[0]).join(" ")).toContain("/healthz")
    expect(execForm(of(runtime, "ENTRYPOINT")[0])).toEqual(["node", "/app/apps/reconciler/src/main.ts"])
    expect(execForm(of(runtime, "CMD")[0])).toEqual(["run"])
    expect(of(runtime, "EXPOSE").map(text)).toEqual(["9000 9090"])
  })

  it("copies the manifests of the reconciler and its workspace dependencies, and nothing .dockerignore leaves out", () => {
    const sources = of(stages()[0] ?? [], "COPY").flatMap((copy) =>
      copy
        .getArguments()
        .map((a) => a.getValue())
        .slice(0, -1),
    )
    expect(sources.filter((s) => s.endsWith("package.json")).sort()).toEqual(
      ["package.json", ...workspaceClosure("apps/reconciler").map((dir) => `${dir}/package.json`)].sort(),
    )
    // The sources of the same packages, and the stub that stands in for the crypto module.
    for (const dir of workspaceClosure("apps/reconciler")) expect(sources).toContain(`${dir}/src`)
    expect(sources).toContain("infra/stubs/matrix-sdk-crypto-nodejs")
    const problems = sources.flatMap((source) => [
      ...(existsSync(repoPath(source)) ? [] : [`${source}: missing`]),
      ...(dockerIgnored(source) ? [`${source}: excluded by .dockerignore`] : []),
    ])
    expect(problems).toEqual([])
  })
  it("copies each source of the deps stage to the same path (infra/systemd/install.sh copies them so)", () => {
    const moved = of(stages()[0] ?? [], "COPY").flatMap((copy) => {
      const args = copy.getArguments().map((a) => a.getValue())
      const destination = args[args.length - 1] ?? ""
      return args.slice(0, -1).flatMap((source) => {
        const target = destination.endsWith("/")
          ? `${destination}${statSync(repoPath(source)).isDirectory() ? "" : basename(source)}`
          : destination
        return target.replace(/^\.\//, "").replace(/\/$/, "") === source ? [] : [`${source} -> ${destination}`]
      })
    })
    expect(moved).toEqual([])
  })
})

describe("the deps stage, replayed without Docker", () => {
  const dir = mkdtempSync(join(tmpdir(), "reconciler-image-"))
  const servers: Array<Server> = []
  afterAll(() => {
    if (process.env.KEEP_IMAGE_DIR === undefined) rmSync(dir, { recursive: true, force: true })
    for (const server of servers) server.close()
  })

  /** Copies what the deps stage copies, runs its pnpm install offline, and its clean-up. */
  const build = (() => {
    let done = false
    return () => {
      if (done) return
      for (const copy of of(stages()[0] ?? [], "COPY")) {
        const args = copy.getArguments().map((a) => a.getValue())
        const destination = args[args.length - 1] ?? ""
        for (const source of args.slice(0, -1)) {
          // Docker's rule: into a destination ending in "/", a file keeps its name; a folder's contents are copied.
          const target = destination.endsWith("/")
            ? join(dir, destination, statSync(repoPath(source)).isDirectory() ? "" : basename(source))
            : join(dir, destination)
          cpSync(repoPath(source), target, {
            recursive: true,
            filter: (path) => path === repoPath(source) || !dockerIgnored(path.slice(repoRoot.length + 1)),
          })
        }
      }
      const install = (stages()[0] ?? []).find((i) => i.getKeyword() === "RUN" && text(i).startsWith("pnpm install"))
      const run = spawnSync("bash", ["-c", `${text(install)} --offline --reporter=silent`], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, CI: "true" },
      })
      if (run.status !== 0) throw new Error(`pnpm install in the replayed stage failed:\n${run.stdout}${run.stderr}`)
      done = true
    }
  })()

  it("yields a reconciler that starts from production dependencies only", () => {
    build()
    const help = spawnSync(process.execPath, ["apps/reconciler/src/main.ts", "run", "--help"], {
      cwd: dir,
      encoding: "utf8",
    })
    expect(help.stderr).toBe("")
    expect(help.status).toBe(0)
    expect(help.stdout).toContain("run")
    // No development dependency made it in.
    const installed = readdirSync(join(dir, "node_modules", ".pnpm"))
    expect(installed.length).toBeGreaterThan(20)
    const development = ["vitest@", "typescript@", "@biomejs+", "turbo@", "testcontainers@", "kubernetes-models@"]
    expect(installed.filter((name) => development.some((prefix) => name.startsWith(prefix)))).toEqual([])
    // Bad settings are still reported by name (the whole program loaded, not just --help).
    const bad = spawnSync(process.execPath, ["apps/reconciler/src/main.ts", "run"], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
    })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain("DATABASE_URL is not set")
  })

  it("fits the application's size budget", () => {
    build()
    const bytes = Number(execFileSync("du", ["-sb", "--apparent-size", dir], { encoding: "utf8" }).split("\t")[0])
    expect(bytes).toBeGreaterThan(1024 * 1024)
    expect(bytes, `the application is ${Math.round(bytes / 1024 / 1024)} MB`).toBeLessThan(appBudgetBytes)
  })

  it("has a HEALTHCHECK that passes on 200 and fails on 503 or no answer", async () => {
    const healthcheck = execForm(of(stages()[1] ?? [], "HEALTHCHECK")[0])
    const serve = (status: number) =>
      new Promise<number>((resolve) => {
        const server = createServer((request, response) => {
          response.statusCode = request.url === "/healthz" ? status : 404
          response.end()
        })
        servers.push(server)
        server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
      })
    // Asynchronously: the servers answer from this process.
    const check = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, healthcheck.slice(1), {
          env: { HTTP_PORT: String(port) },
          stdio: "ignore",
        })
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
        child.on("exit", (code) => {
          clearTimeout(timer)
          resolve(code)
        })
      })
    expect(healthcheck[0]).toBe("node")
    expect(await check(await serve(200))).toBe(0)
    expect(await check(await serve(503))).toBe(1)
    const closed = await serve(200)
    for (const server of servers.splice(-1)) await new Promise((resolve) => server.close(resolve))
    expect(await check(closed)).toBe(1)
  })
})

describe.skipIf(spawnSync("docker", ["info"], { stdio: "ignore" }).status !== 0)(
  "docker build (a Docker engine answers)",
  () => {
    it("builds the image", () => {
      const build = spawnSync("docker", ["build", "-t", "openmeet-reconciler:test", "."], {
        cwd: repoRoot,
        encoding: "utf8",
      })
      expect(build.status, build.stderr).toBe(0)
    })
  },
)
