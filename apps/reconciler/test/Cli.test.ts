import { parseRegistration } from "@openmeet-reconciler/matrix"
import { testServices } from "@openmeet-reconciler/testing"
import { Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { cliEnv, runCli } from "./cli.ts"

const services = testServices()
const tenants = Buffer.from(
  JSON.stringify([
    { id: "a", matrixConfig: { serverName: services.serverName } },
    { id: "b", matrixConfig: { serverName: services.serverName } },
  ]),
).toString("base64")
const env = cliEnv(services, { TENANTS_B64: tenants })

/** Runs the CLI and expects exit 1 with exactly this one error line. */
const fails = async (args: ReadonlyArray<string>, extra: Record<string, string | undefined>, message: string) => {
  const result = await runCli(args, { ...env, ...extra })
  expect({ code: result.code, stderr: result.stderr.trim() }).toEqual({ code: 1, stderr: `error: ${message}` })
}

describe("bad input on the command line and in settings: one clear message, exit 1", () => {
  it("a missing setting is named as the environment and the config file spell it", () =>
    fails(
      ["plan"],
      { DATABASE_URL: undefined },
      "configuration: DATABASE_URL is not set (nor databaseUrl in the --config file)",
    ))

  it("a malformed room key", () =>
    fails(
      ["plan", "--room", "event:a:x"],
      {},
      'configuration: --room: "event:a:x" is not a room key; expected event:<tenant>:<id> or group:<tenant>:<id>',
    ))

  it("an unknown tenant", () =>
    fails(["plan", "--tenant", "zz"], {}, 'configuration: --tenant "zz": no such tenant; configured: "a", "b"'))

  it("a room outside the --tenant filter", () =>
    fails(
      ["plan", "--tenant", "a", "--room", "event:b:1"],
      {},
      "configuration: --room event:b:1: its tenant is not among --tenant a",
    ))

  it("a policy override for a tenant that is not configured", () =>
    fails(
      ["plan"],
      { RECONCILER_POLICY: "tenants:\n  c: {respectLeave: false}\n" },
      "configuration: RECONCILER_POLICY: tenants.c: no such tenant is configured",
    ))

  it("a schema name that is not an identifier", () =>
    fails(
      ["plan"],
      { RECONCILER_SCHEMA: "x; DROP" },
      "configuration: RECONCILER_SCHEMA: must be a lower-case SQL identifier (letters, digits, _), e.g. matrix_reconciler",
    ))

  it("a bad LOG_LEVEL", () =>
    fails(
      ["plan"],
      { LOG_LEVEL: "loud" },
      'configuration: LOG_LEVEL: "loud" is not one of trace, debug, info, warn, warning, error, fatal, none',
    ))
})

describe("registration", () => {
  const parsed = (text: string) => {
    const result = parseRegistration(text, "output")
    if (Either.isLeft(result)) throw new Error(result.left.message)
    return result.right
  }

  it("prints a registration the reconciler itself accepts, with new tokens and one alias namespace per tenant", async () => {
    const result = await runCli(["registration", "--url", "http://reconciler:9000"], {
      ...env,
      APPSERVICE_REGISTRATION: "/nonexistent/registration.yaml",
    })
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    const registration = parsed(result.stdout)
    expect(registration.url).toBe("http://reconciler:9000")
    expect(Redacted.value(registration.asToken)).toMatch(/^[0-9a-f]{64}$/)
    expect(Redacted.value(registration.hsToken)).not.toBe(Redacted.value(registration.asToken))
    const server = services.serverName.replaceAll(".", "\\\\.")
    expect(result.stdout).toContain(`regex: "#(event|group)-.*-a:${server}"`)
    expect(result.stdout).toContain(`regex: "#(event|group)-.*-b:${server}"`)
    // Nobody is joined as themselves: the registration claims no users at all.
    expect(parse(result.stdout).namespaces.users).toEqual([])
  })

  it("claims the local users of a server only when a tenant there joins them (membershipMode join)", async () => {
    const result = await runCli(["registration"], {
      ...env,
      RECONCILER_POLICY: "tenants:\n  b:\n    membershipMode: join\n",
    })
    expect(result.stderr).toBe("")
    expect(parse(result.stdout).namespaces.users).toEqual([
      { exclusive: false, regex: `@.*:${services.serverName.replaceAll(".", "\\.")}` },
    ])
  })

  it("keeps the tokens of the current registration", async () => {
    const result = await runCli(["registration"], env)
    expect(result.code).toBe(0)
    const registration = parsed(result.stdout)
    expect(Redacted.value(registration.asToken)).toBe(services.asToken)
    expect(Redacted.value(registration.hsToken)).toBe(services.hsToken)
    expect(registration.url).toBe(services.appserviceUrl)
  })
})
