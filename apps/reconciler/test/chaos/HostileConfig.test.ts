/**
 * Broken settings and command lines, through the real CLI: each gets exit code 1 and a
 * clear message naming the setting or argument at fault, never a stack trace and never a
 * secret (tokens, the database password) in it. A regex that would backtrack is accepted
 * and runs (RE2). (Daemon-only settings are in Daemon.test.ts.)
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fixtureTenant, resetTenant, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import type { ReliabilityClass } from "@openmeet-reconciler/testing"
import { reliabilityCase, uniqueTenantId } from "@openmeet-reconciler/testing"
import { beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { harness } from "../daemon.ts"

const { services, db, s } = harness()
const tenant = fixtureTenant(uniqueTenantId("hcf"), s)
const dir = mkdtempSync(join(tmpdir(), "hostile-config-"))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const b64 = (text: string) => Buffer.from(text).toString("base64")
const tenantJson = (extra: Record<string, unknown> = {}) =>
  JSON.stringify([{ id: tenant.id, matrixConfig: { serverName: s, ...extra } }])
const secretToken = "tenant-token-that-must-never-show-0123456789"
const password = "db-password-that-must-never-show"
/** YAML whose aliases expand to billions of nodes if a parser follows them all. */
const yamlBomb = [
  'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
  ...Array.from({ length: 8 }, (_, i) => {
    const name = String.fromCharCode(98 + i)
    const prev = String.fromCharCode(97 + i)
    return `${name}: &${name} [${Array.from({ length: 10 }, () => `*${prev}`).join(",")}]`
  }),
].join("\n")

beforeAll(async () => {
  await db.runPromise(resetTenant(tenant, 40))
})

interface ConfigCase {
  readonly name: string
  readonly class: ReliabilityClass
  readonly args?: ReadonlyArray<string>
  readonly env?: Record<string, string | undefined>
  /** What stderr must say (exit 1); or `accepted`: the command runs (exit 0). */
  readonly message: RegExp | "accepted"
}

const config = (name: string, env: Record<string, string | undefined>, message: RegExp | "accepted"): ConfigCase => ({
  name,
  class: "hostile-config",
  env,
  message,
})
const cli = (name: string, args: ReadonlyArray<string>, message: RegExp): ConfigCase => ({
  name,
  class: "hostile-cli",
  args,
  message,
})
const registration = (text: string) => ({ APPSERVICE_REGISTRATION: file(`reg-${Math.random()}.yaml`, text) })
const policy = (yaml: string) => ({ RECONCILER_POLICY: yaml })
const regTokens = `as_token: ${secretToken}\nhs_token: ${secretToken}-hs\n`

const cases: ReadonlyArray<ConfigCase> = [
  config("TENANTS_B64 that is not base64", { TENANTS_B64: "%%%not base64%%%" }, /TENANTS_B64: not base64/),
  config("TENANTS_B64 that is not JSON", { TENANTS_B64: b64("hello") }, /TENANTS_B64: not valid JSON/),
  config(
    "TENANTS_B64 that is an object",
    { TENANTS_B64: b64('{"id":"a"}') },
    /TENANTS_B64: not a list of OpenMeet tenants/,
  ),
  config("a tenant without an id", { TENANTS_B64: b64('[{"name":"a"}]') }, /0\.id: is missing/),
  config("a tenant id that is a number", { TENANTS_B64: b64('[{"id":5}]') }, /0\.id: Expected string/),
  config(
    "a tenant id twice",
    { TENANTS_B64: b64(JSON.stringify([{ id: "a" }, { id: "a" }])) },
    /TENANTS_B64\[1\]: tenant id "a" appears twice/,
  ),
  config(
    "a tenant id made for SQL injection",
    { TENANTS_B64: b64(JSON.stringify([{ id: 'a"; DROP SCHEMA public; --', matrixConfig: { serverName: s } }])) },
    /TENANTS_B64\[0\]: tenant id .* must be letters, digits or _/,
  ),
  config(
    "a server name that cannot be one",
    { TENANTS_B64: b64(JSON.stringify([{ id: "a", matrixConfig: { serverName: "not a server!" } }])) },
    /TENANTS_B64\[0\]: matrixConfig\.serverName "not a server!" is not a Matrix server name/,
  ),
  config(
    "a homeserverUrl that is not http(s)",
    { TENANTS_B64: b64(tenantJson({ homeserverUrl: "file:///etc/passwd" })) },
    /matrixConfig\.homeserverUrl is not an http or https URL/,
  ),
  config(
    "a tenant's token beside a broken field",
    {
      TENANTS_B64: b64(
        JSON.stringify([{ id: 7, matrixConfig: { serverName: s, appservice: { token: secretToken } } }]),
      ),
    },
    /0\.id: Expected string/,
  ),
  config("no tenant with a server name", { TENANTS_B64: b64("[]") }, /has no tenant with matrixConfig\.serverName/),
  config(
    "a 1 MB tenant file of garbage",
    { TENANTS_B64: undefined, TENANTS_FILE: file("huge.json", `[${"{".repeat(1_000_000)}`) },
    /TENANTS_FILE .*: not valid JSON/,
  ),
  config(
    "TENANTS_FILE that does not exist",
    { TENANTS_B64: undefined, TENANTS_FILE: join(dir, "missing.json") },
    /TENANTS_FILE .*missing\.json: cannot read/,
  ),
  config(
    "TENANTS_FILE that is not JSON",
    { TENANTS_B64: undefined, TENANTS_FILE: file("tenants.json", "not json") },
    /TENANTS_FILE .*: not valid JSON/,
  ),
  config(
    "a registration file that does not exist",
    { APPSERVICE_REGISTRATION: join(dir, "nope.yaml") },
    /APPSERVICE_REGISTRATION .*: cannot read/,
  ),
  config(
    "a registration that is not YAML",
    registration(": : :\n"),
    /APPSERVICE_REGISTRATION .*: not valid YAML at line 1/,
  ),
  config(
    "a registration without as_token",
    registration(`id: x\nurl: null\nhs_token: ${secretToken}\nsender_localpart: bot\n`),
    /as_token: is missing/,
  ),
  config(
    "a registration whose as_token is a number",
    registration("id: x\nurl: null\nas_token: 12345\nhs_token: y\nsender_localpart: bot\n"),
    /as_token: Expected string/,
  ),
  config("a registration that is a YAML list", registration("- a\n- b\n"), /not an appservice registration/),
  config(
    "a registration without sender_localpart (tokens present)",
    registration(`id: x\nurl: null\n${regTokens}`),
    /sender_localpart: is missing/,
  ),
  config("a registration that is a YAML alias bomb", registration(yamlBomb), /APPSERVICE_REGISTRATION .*: not/),
  config(
    "a registration whose token carries an unknown YAML tag",
    registration(`id: x\nurl: null\nas_token: !weird ${secretToken}\nhs_token: y\nsender_localpart: bot\n`),
    /homeserver: GET \/account\/whoami: M_UNKNOWN_TOKEN/,
  ),
  {
    name: "a --config file whose database password carries an unknown YAML tag",
    class: "hostile-config",
    args: ["plan", "--config", file("tagged.yaml", `databaseUrl: !weird postgres://u:${password}@127.0.0.1:1/db\n`)],
    env: { DATABASE_URL: undefined },
    message: /OpenMeet database \(DATABASE_URL\)/,
  },
  config("a policy that is not YAML", policy("defaults: [\n"), /RECONCILER_POLICY: not valid YAML/),
  config(
    "a policy with an unknown key",
    policy("defaults:\n  nonsense: 1\n"),
    /RECONCILER_POLICY:\n {2}defaults\.nonsense: is unexpected/,
  ),
  config(
    "a policy for an unknown tenant",
    policy("tenants:\n  nobody: {}\n"),
    /tenants\.nobody: no such tenant is configured/,
  ),
  config(
    "a policy with a negative cap",
    policy("defaults:\n  maxDestructivePerRoom: -1\n"),
    /defaults\.maxDestructivePerRoom: Expected a non-negative number, actual -1/,
  ),
  config(
    "a policy with a room fraction of 2",
    policy("defaults:\n  maxDestructiveRoomFraction: 2\n"),
    /defaults\.maxDestructiveRoomFraction: Expected a number between 0 and 1/,
  ),
  config(
    "a policy level of 101",
    policy("defaults:\n  eventLevels: {host: 101}\n"),
    /defaults\.eventLevels\.host: Expected a number between 0 and 100/,
  ),
  config(
    "a policy level that is a word",
    policy("defaults:\n  groupLevels: {admin: high}\n"),
    /defaults\.groupLevels\.admin: Expected number/,
  ),
  config(
    "a policy with an attendee status OpenMeet does not have",
    policy("defaults:\n  eventEntitledStatuses: [confirmed, partying]\n"),
    /defaults\.eventEntitledStatuses\.1: Expected "invited"/,
  ),
  config(
    "a protectedUsers pattern with a backreference",
    policy('defaults:\n  protectedUsers: ["(a)\\\\1"]\n'),
    /defaults\.protectedUsers: .* is not a valid regular expression for RE2/,
  ),
  config(
    "a protectedUsers pattern with lookahead",
    policy('defaults:\n  protectedUsers: ["@(?=admin).*"]\n'),
    /is not a valid regular expression for RE2/,
  ),
  config(
    "a protectedUsers pattern that does not parse",
    policy('defaults:\n  protectedUsers: ["["]\n'),
    /missing closing \]/,
  ),
  config(
    "protectedUsers patterns that would backtrack",
    policy('defaults:\n  protectedUsers: ["(a+)+$", "(.*a){20}", "(x|xx)+y"]\n'),
    "accepted",
  ),
  config("a policy that is a YAML alias bomb", policy(yamlBomb), /RECONCILER_POLICY/),
  config(
    "RECONCILER_SCHEMA made for SQL injection",
    { RECONCILER_SCHEMA: 'x"; DROP TABLE y; --' },
    /RECONCILER_SCHEMA: must be a lower-case SQL identifier/,
  ),
  config(
    "MATRIX_HOMESERVER_URL that is not a URL",
    { MATRIX_HOMESERVER_URL: "not a url" },
    /MATRIX_HOMESERVER_URL: must be an http\(s\) URL/,
  ),
  config(
    "DATABASE_URL with a password, unreachable",
    { DATABASE_URL: `postgres://u:${password}@127.0.0.1:1/db` },
    /OpenMeet database \(DATABASE_URL\)/,
  ),
  config("RECONCILE_CONCURRENCY 0", { RECONCILE_CONCURRENCY: "0" }, /RECONCILE_CONCURRENCY: must be between 1 and 64/),
  config("LOG_LEVEL that is not a level", { LOG_LEVEL: "loud" }, /LOG_LEVEL: "loud" is not one of/),
  {
    name: "a --config file with an unknown setting",
    class: "hostile-config",
    args: ["plan", "--config", file("unknown.yaml", "nonsense: 1\n")],
    message: /--config .*: unknown setting "nonsense"/,
  },
  {
    name: "a --config file that is not YAML",
    class: "hostile-config",
    args: ["plan", "--config", file("broken.yaml", ": : :\n")],
    message: /--config .*: not valid YAML at line 1/,
  },
  cli("an unknown command", ["frobnicate"], /Invalid subcommand for reconciler/),
  cli("an unknown flag", ["plan", "--frobnicate"], /Received unknown argument: '--frobnicate'/),
  cli("--room that is not a key", ["plan", "--room", "event:x"], /--room: "event:x" is not a room key/),
  cli(
    "--room of an unknown tenant",
    ["plan", "--room", "group:nobody:1"],
    /--room group:nobody:1: tenant "nobody" is not configured/,
  ),
  cli(
    "--room with an id above any OpenMeet id",
    ["plan", "--room", `event:${tenant.id}:99999999999999999999`],
    /larger than any OpenMeet id can be/,
  ),
  cli("--room with a non-numeric id", ["plan", "--room", `event:${tenant.id}:abc`], /is not a room key/),
  cli("--room of 10 kB", ["plan", "--room", `event:${"x".repeat(10_000)}:1`], /--room/),
  cli("--output yaml", ["plan", "--output", "yaml"], /Expected one of the following cases: text, json/),
  cli("status --output xml", ["status", "--output", "xml"], /Expected one of the following cases: text, json/),
  cli("explain without a subject", ["explain"], /Missing argument <subject>/),
  cli(
    "explain of something neither a user nor a key",
    ["explain", "not an id"],
    /^error: configuration: explain: "not an id" is not a room key/,
  ),
  cli(
    "explain of a user on an unknown server",
    ["explain", "@ann:elsewhere.example"],
    /no configured tenant has server name "elsewhere\.example"/,
  ),
  cli("--tenant that is not configured", ["plan", "--tenant", "nobody"], /--tenant "nobody": no such tenant/),
  cli(
    "--wait-for-lock that is not a duration",
    ["apply", "--wait-for-lock", "soon"],
    /--wait-for-lock "soon": expected a duration/,
  ),
  cli("--config that does not exist", ["plan", "--config", join(dir, "missing.yaml")], /must exist/),
  cli(
    "registration --url that is not a URL",
    ["registration", "--url", "not a url"],
    /--url "not a url": not an http\(s\) URL/,
  ),
]

const secrets = [services.asToken, services.hsToken, secretToken, password]

describe.concurrent("hostile settings and arguments", () => {
  it.each(cases)("$name", async (c) => {
    await reliabilityCase(
      {
        class: c.class,
        case: c.name,
        expected: c.message === "accepted" ? "accepted, runs" : "exit 1 and a message naming the setting",
      },
      async (measure) => {
        measure.faults = 1
        const env = { ...cliEnv(services, { TENANTS_B64: tenantsB64([tenant]) }), ...c.env }
        for (const [name, value] of Object.entries(c.env ?? {})) if (value === undefined) delete env[name]
        const result = await runCli(c.args ?? ["plan"], env)
        const output = `${result.stdout}${result.stderr}`
        const leaked = secrets.filter((secret) => output.includes(secret))
        const wanted = c.message === "accepted" ? result.code === 0 : result.code === 1 && c.message.test(result.stderr)
        const clean = !/\n\s+at |TypeError|RangeError|FiberFailure/.test(result.stderr)
        measure.survived = wanted && clean && leaked.length === 0 ? 1 : 0
        expect(leaked).toEqual([])
        expect(result.stderr).not.toMatch(/\n\s+at |TypeError|RangeError|FiberFailure/)
        if (c.message === "accepted") expect(result.code, result.stderr).toBe(0)
        else {
          expect(result.stderr).toMatch(c.message)
          expect(result.code).toBe(1)
        }
      },
    )
  })
})
