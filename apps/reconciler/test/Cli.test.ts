import { testServices } from "@openmeet-reconciler/testing"
import { describe, expect, it } from "vitest"
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
