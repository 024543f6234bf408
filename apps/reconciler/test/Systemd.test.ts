import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { fixtureTenant, resetTenant, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { uniqueTenantId } from "@openmeet-reconciler/testing"
import { afterAll, describe, expect, it } from "vitest"
import { envName, settingsReference } from "../src/SettingsReference.ts"
import { daemonEnv, eventually, harness } from "./daemon.ts"

/**
 * infra/systemd: the unit checked by systemd-analyze (verify: no warning; security: an
 * exposure rated OK), its sandboxing and readiness settings, its environment file; then
 * installed by infra/systemd/install.sh into a temporary prefix and its ExecStart and
 * ExecStartPost commands run as systemd would run them (its environment file, its
 * credential path for %d) against the real services: the readiness wait returns only once
 * /readyz answers 200, and SIGTERM stops the daemon within TimeoutStopSec. Started by
 * systemd itself only where systemd is the running init system; elsewhere that test is
 * skipped and its name says why.
 */

const repo = fileURLToPath(new URL("../../../", import.meta.url))
const unitText = readFileSync(join(repo, "infra/systemd/openmeet-reconciler.service"), "utf8")
const defaultPrefix = "/opt/openmeet-reconciler"

/** The unit's [Service] settings: each key with its values in order (a key may repeat). */
const serviceSettings = (text: string): ReadonlyMap<string, ReadonlyArray<string>> => {
  const settings = new Map<string, Array<string>>()
  let section = ""
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header !== null) {
      section = header[1] ?? ""
      continue
    }
    const [key = "", ...rest] = line.split("=")
    if (section === "Service") settings.set(key, [...(settings.get(key) ?? []), rest.join("=")])
  }
  return settings
}
const service = serviceSettings(unitText)
const setting = (key: string): string | undefined => service.get(key)?.at(-1)

/** An EnvironmentFile as systemd reads it: KEY=VALUE lines, comments and blank lines skipped. */
const environmentFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  )

const tool = (...args: ReadonlyArray<string>) => {
  const run = spawnSync("bash", [join(repo, "infra/dev/systemd-analyze.sh"), ...args], { encoding: "utf8" })
  return run.status === 0 ? { path: run.stdout.trim() } : { reason: run.stderr.trim() }
}
const analyze = tool()
const strace = tool("--strace")

/** The system calls a `systemd-analyze syscall-filter` group holds, its nested groups expanded. */
const syscallGroup = (
  analyzer: string,
  group: string,
  seen = new Map<string, ReadonlySet<string>>(),
): ReadonlySet<string> => {
  const known = seen.get(group)
  if (known !== undefined) return known
  const names = new Set<string>()
  const lines = execFileSync(analyzer, ["syscall-filter", group], { encoding: "utf8" }).split("\n").slice(1)
  for (const line of lines.map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))) {
    if (line.startsWith("@")) for (const name of syscallGroup(analyzer, line, seen)) names.add(name)
    else names.add(line)
  }
  seen.set(group, names)
  return names
}

/** The unit's SystemCallFilter: what its allow lists name, less what its `~` lists deny. */
const allowedSyscalls = (analyzer: string): ReadonlySet<string> => {
  const expand = (items: ReadonlyArray<string>) =>
    items.flatMap((item) => (item.startsWith("@") ? [...syscallGroup(analyzer, item)] : [item]))
  const filters = service.get("SystemCallFilter") ?? []
  const allowed = new Set(expand(filters.filter((f) => !f.startsWith("~")).flatMap((f) => f.split(/\s+/))))
  for (const name of expand(filters.filter((f) => f.startsWith("~")).flatMap((f) => f.slice(1).split(/\s+/)))) {
    allowed.delete(name)
  }
  return allowed
}
const systemdRuns = existsSync("/run/systemd/system")
const pid1 = existsSync("/proc/1/comm") ? readFileSync("/proc/1/comm", "utf8").trim() : "unknown"

// Where systemd runs the unit, its files must be visible to the service: not under /tmp
// (PrivateTmp) nor /root (ProtectHome), and open to its dynamic user.
const work = mkdtempSync(join(systemdRuns ? "/run" : tmpdir(), "reconciler-systemd-"))
if (systemdRuns) chmodSync(work, 0o755)
const children: Array<ChildProcess> = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
  rmSync(work, { recursive: true, force: true })
})

describe("the unit file", () => {
  it("is sandboxed: a dynamic user, a read-only system, no new privileges, a private /tmp", () => {
    expect({
      DynamicUser: setting("DynamicUser"),
      ProtectSystem: setting("ProtectSystem"),
      ProtectHome: setting("ProtectHome"),
      NoNewPrivileges: setting("NoNewPrivileges"),
      PrivateTmp: setting("PrivateTmp"),
      PrivateDevices: setting("PrivateDevices"),
      CapabilityBoundingSet: setting("CapabilityBoundingSet"),
    }).toEqual({
      DynamicUser: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      NoNewPrivileges: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      CapabilityBoundingSet: "",
    })
  })

  it("starts `reconciler run`, is started once /readyz answers, stops within SHUTDOWN_GRACE and a margin", () => {
    expect(setting("ExecStart")).toBe(`${defaultPrefix}/node/bin/node ${defaultPrefix}/apps/reconciler/src/main.ts run`)
    expect(setting("Type")).toBe("exec")
    expect(setting("ExecStartPost")).toContain("infra/systemd/wait-ready.ts")
    expect(readFileSync(join(repo, "infra/systemd/wait-ready.ts"), "utf8")).toContain("/readyz")
    expect(setting("EnvironmentFile")).toBe("/etc/openmeet-reconciler/reconciler.env")
    expect(setting("LoadCredential")).toBe("registration.yaml:/etc/openmeet-reconciler/registration.yaml")
    expect(service.get("Environment")).toContain("APPSERVICE_REGISTRATION=%d/registration.yaml")
    expect(setting("TimeoutStopSec")).toBe("40s")
    expect(setting("Restart")).toBe("on-failure")
  })

  it("has an example environment file of documented settings only", () => {
    const documented = new Set(settingsReference.map((s) => envName(s.name)))
    const example = environmentFile(readFileSync(join(repo, "infra/systemd/reconciler.env"), "utf8"))
    expect(Object.keys(example).filter((name) => !documented.has(name))).toEqual([])
    expect(Object.keys(example)).toEqual(
      expect.arrayContaining(["DATABASE_URL", "TENANTS_B64", "MATRIX_HOMESERVER_URL"]),
    )
  })
})

describe.skipIf(!("path" in analyze))(
  `systemd-analyze${"reason" in analyze ? ` (skipped: ${analyze.reason})` : ""}`,
  () => {
    const path = "path" in analyze ? analyze.path : "systemd-analyze"
    /** The unit with its prefix pointing at a folder whose node is this test's Node (verify checks ExecStart exists). */
    const unitHere = () => {
      const prefix = join(work, "verify")
      mkdirSync(join(prefix, "node/bin"), { recursive: true })
      if (!existsSync(join(prefix, "node/bin/node"))) copyFileSync(process.execPath, join(prefix, "node/bin/node"))
      const unit = join(work, "openmeet-reconciler.service")
      writeFileSync(unit, unitText.replaceAll(defaultPrefix, prefix))
      return unit
    }

    it("verify finds nothing to say", () => {
      const run = spawnSync(path, ["verify", unitHere()], { encoding: "utf8" })
      expect(run.stderr).toBe("")
      expect(run.status).toBe(0)
    })

    it("verify would complain of a misspelt key (the check can fail)", () => {
      const unit = join(work, "typo.service")
      writeFileSync(unit, readFileSync(unitHere(), "utf8").replace("NoNewPrivileges=", "NoNewPrivilege="))
      expect(spawnSync(path, ["verify", unit], { encoding: "utf8" }).stderr).toContain("NoNewPrivilege")
    })

    it("security rates the exposure OK (below 2 on its 0-10 scale)", () => {
      const run = spawnSync(path, ["security", "--offline=true", unitHere()], { encoding: "utf8" })
      const level = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(run.stdout)
      expect(level?.[2], run.stdout).toBe("OK")
      expect(Number(level?.[1])).toBeLessThan(2)
    })
  },
)

describe("installed by install.sh, its commands run as systemd runs them", () => {
  const { services, db, s } = harness()
  const prefix = join(work, "opt")
  const etc = join(work, "etc")
  const credentials = join(work, "credentials")

  it("install.sh puts the application, Node and the unit in place", () => {
    const run = spawnSync("bash", [join(repo, "infra/systemd/install.sh")], {
      encoding: "utf8",
      env: { ...process.env, PREFIX: prefix, UNIT_DIR: join(work, "units"), ETC_DIR: etc, PNPM_FLAGS: "--offline" },
    })
    expect(run.status, run.stderr).toBe(0)
    const installed = readFileSync(join(work, "units/openmeet-reconciler.service"), "utf8")
    expect(installed).toBe(unitText.replaceAll(defaultPrefix, prefix))
    expect(existsSync(join(prefix, "infra/systemd/wait-ready.ts"))).toBe(true)
    expect(execFileSync(join(prefix, "node/bin/node"), ["--version"], { encoding: "utf8" })).toMatch(/^v22\./)
    expect(readFileSync(join(etc, "reconciler.env"), "utf8")).toBe(
      readFileSync(join(repo, "infra/systemd/reconciler.env"), "utf8"),
    )
  })

  /**
   * The environment file an operator writes (for a tenant of this test, against the test's
   * services) and the credential systemd hands over; then each command line of the
   * installed unit with the environment systemd gives it (%d: the credentials folder).
   */
  let prepared: Record<string, string> | undefined
  const prepare = async (): Promise<Record<string, string>> => {
    if (prepared !== undefined) return prepared
    const tenant = fixtureTenant(uniqueTenantId("sdu"), s)
    await db.runPromise(resetTenant(tenant, 40))
    const test = daemonEnv(services, {
      TENANTS_B64: tenantsB64([tenant]),
      HTTP_PORT: String(18600 + (process.pid % 300)),
    })
    const settingNames = new Set(settingsReference.map((r) => envName(r.name)))
    writeFileSync(
      join(etc, "reconciler.env"),
      Object.entries(test)
        .filter(([name]) => settingNames.has(name) && name !== "APPSERVICE_REGISTRATION")
        .map(([name, value]) => `${name}=${value}`)
        .join("\n"),
    )
    mkdirSync(credentials, { recursive: true })
    copyFileSync(services.registrationPath, join(credentials, "registration.yaml"))
    prepared = {
      PATH: "/usr/bin:/bin",
      ...environmentFile(readFileSync(join(etc, "reconciler.env"), "utf8")),
      ...Object.fromEntries(
        (installedUnit().get("Environment") ?? []).map((e) => [
          e.slice(0, e.indexOf("=")),
          e.slice(e.indexOf("=") + 1).replace("%d", credentials),
        ]),
      ),
    }
    return prepared
  }
  const installedUnit = () => serviceSettings(readFileSync(join(work, "units/openmeet-reconciler.service"), "utf8"))
  const commandLine = async (key: string) => {
    const [binary = "", ...args] = (installedUnit().get(key)?.at(-1) ?? "").split(" ")
    return { binary, args, environment: await prepare() }
  }

  it("ExecStartPost returns only when the daemon is ready; SIGTERM stops it within TimeoutStopSec", async () => {
    const environment = await prepare()
    const command = async (key: string) => {
      const { binary, args } = await commandLine(key)
      const child = spawn(binary, args, { env: environment, stdio: ["ignore", "ignore", "pipe"] })
      children.push(child)
      let log = ""
      child.stderr?.on("data", (chunk: Buffer) => {
        log += chunk.toString()
      })
      const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
        child.on("exit", (code) => resolve({ code, at: Date.now() })),
      )
      return { child, exited, log: () => log }
    }

    // Before the daemon runs, the readiness wait keeps waiting.
    const wait = await command("ExecStartPost")
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    expect(wait.child.exitCode).toBe(null)
    const daemon = await command("ExecStart")
    const waited = await Promise.race([
      wait.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 90_000)),
    ])
    expect(waited?.code, daemon.log()).toBe(0)
    const readyz = await fetch(`http://127.0.0.1:${environment.HTTP_PORT}/readyz`)
    expect(readyz.status).toBe(200)
    expect(daemon.log()).not.toContain(services.asToken)

    const stopAt = Date.now()
    daemon.child.kill("SIGTERM")
    const stopped = await daemon.exited
    expect(stopped.code).toBe(0)
    expect(stopped.at - stopAt).toBeLessThan(40_000)
    await eventually("the HTTP port to be released", async () =>
      fetch(`http://127.0.0.1:${environment.HTTP_PORT}/healthz`).then(
        () => false,
        () => true,
      ),
    )
  })

  it.skipIf(!("path" in analyze && "path" in strace))(
    `makes only the system calls the unit's SystemCallFilter allows${"path" in analyze && "path" in strace ? "" : " (skipped: no strace or systemd-analyze)"}`,
    async () => {
      const analyzer = "path" in analyze ? analyze.path : ""
      const tracer = "path" in strace ? strace.path : ""
      const { binary, args, environment } = await commandLine("ExecStart")
      const trace = join(work, "strace.txt")
      const traced = spawn(tracer, ["-f", "-qq", "-o", trace, binary, ...args], { env: environment, stdio: "ignore" })
      children.push(traced)
      const exited = new Promise<number | null>((resolve) => traced.on("exit", (code) => resolve(code)))
      await eventually(
        "the traced daemon to be ready",
        async () =>
          (await fetch(`http://127.0.0.1:${environment.HTTP_PORT}/readyz`).catch(() => undefined))?.status === 200,
        { timeoutMs: 90_000 },
      )
      // SIGTERM to the daemon itself (strace's child), as systemd's KillSignal: its shutdown is traced too.
      const daemonPid = Number(
        readFileSync(`/proc/${traced.pid}/task/${traced.pid}/children`, "utf8").trim().split(" ")[0],
      )
      process.kill(daemonPid, "SIGTERM")
      expect(await exited).toBe(0)
      const used = new Set(
        readFileSync(trace, "utf8")
          .split("\n")
          .flatMap((line) => /^\d+\s+([a-z0-9_]+)\(/.exec(line)?.[1] ?? []),
      )
      expect(used.size).toBeGreaterThan(30)
      const allowed = allowedSyscalls(analyzer)
      expect([...used].filter((name) => !allowed.has(name)).sort()).toEqual([])
    },
  )
})

const skipped = [
  ...(systemdRuns ? [] : [`started by systemd: systemd is not the running init system here (PID 1 is "${pid1}")`]),
  ...("reason" in analyze ? [`systemd-analyze verify/security: ${analyze.reason}`] : []),
]
// Said in the run's output too, not only in the skipped tests' names.
for (const reason of skipped) process.stderr.write(`Systemd.test.ts: skipped ${reason}\n`)

describe.skipIf(!systemdRuns)(
  `started by systemd${systemdRuns ? "" : ` (skipped: systemd is not the running init system here, PID 1 is "${pid1}", so no unit can be started)`}`,
  () => {
    it("starts, is active once ready, and stops", () => {
      // Where systemd runs (as root): a transient copy of the installed unit, started and stopped.
      const name = "openmeet-reconciler-test.service"
      const prefix = join(work, "opt")
      const unit = readFileSync(join(work, "units/openmeet-reconciler.service"), "utf8")
        .replace("/etc/openmeet-reconciler/reconciler.env", join(work, "etc/reconciler.env"))
        .replace("/etc/openmeet-reconciler/registration.yaml", join(work, "credentials/registration.yaml"))
      writeFileSync(`/run/systemd/system/${name}`, unit)
      try {
        execFileSync("systemctl", ["daemon-reload"])
        // `start` returns once ExecStartPost has: the unit is active only when ready.
        execFileSync("systemctl", ["start", name], { timeout: 120_000 })
        expect(execFileSync("systemctl", ["is-active", name], { encoding: "utf8" }).trim()).toBe("active")
        execFileSync("systemctl", ["stop", name], { timeout: 60_000 })
        expect(spawnSync("systemctl", ["is-active", name], { encoding: "utf8" }).stdout.trim()).toBe("inactive")
      } finally {
        spawnSync("systemctl", ["stop", name])
        rmSync(`/run/systemd/system/${name}`, { force: true })
        spawnSync("systemctl", ["daemon-reload"])
      }
      expect(readFileSync(join(work, "units/openmeet-reconciler.service"), "utf8")).toContain(prefix)
    })
  },
)
