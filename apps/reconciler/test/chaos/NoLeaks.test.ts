/**
 * No leaks: a full run (the daemon at LOG_LEVEL debug exporting spans, plan, apply,
 * explain, status, drift in Matrix, hostile appservice requests with the token in the
 * query) against a database with a real password and users with e-mail addresses. Then
 * /metrics, every log line, every command's output, the audit rows and every exported
 * span are searched for the as_token, the hs_token, the database password and any e-mail
 * address: none may appear.
 */
import { createServer } from "node:http"
import { addAttendee, addEvent, addUser, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { reliabilityCase, synapseClient, testServices } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { daemonEnv, daemonStarter, eventually, ready } from "../daemon.ts"
import type { PrivateOpenMeet } from "./privateOpenMeet.ts"
import { privateOpenMeet } from "./privateOpenMeet.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const start = daemonStarter()
let om: PrivateOpenMeet
const spans: Array<Buffer> = []
const collector = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    spans.push(Buffer.concat(chunks))
    response.writeHead(200, { "content-type": "application/x-protobuf" }).end()
  })
})
const emails = ["ann.secret@example.com", "bob+private@mail.example.org", "carol@openmeet.test"]

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
  om = await privateOpenMeet("no-leaks", 19422, s, (tenant) =>
    Effect.gen(function* () {
      for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "leaky", userId: 1, visibility: "private" })
      for (const userId of [2, 3]) yield* addAttendee(tenant, { eventId: 1, userId, status: "confirmed" })
    }),
  )
  for (const [index, email] of emails.entries()) {
    await om.sql(`UPDATE $s.users SET email = '${email}', "firstName" = 'Secret${index}' WHERE id = ${index + 1}`)
  }
}, 120_000)

afterAll(async () => {
  await om?.dispose()
  await new Promise<void>((resolve) => collector.close(() => resolve()))
})

/** Every string the run produced, by where it came from. */
const outputs: Array<{ readonly where: string; readonly text: string }> = []

const secretsIn = (text: string): ReadonlyArray<string> => {
  const found = [services.asToken, services.hsToken, om.password, ...emails].filter((secret) => text.includes(secret))
  // Any e-mail address at all: name@host.tld (a Matrix id has a colon; effect@3.22.4 in a
  // package path has no top-level domain).
  const anyEmail = text.match(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g) ?? []
  return [...found, ...anyEmail]
}

describe("no secrets or e-mail addresses in any output of a full run", () => {
  beforeAll(async () => {
    const address = collector.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const env = cliEnv(services, {
      TENANTS_B64: tenantsB64([om.tenant]),
      DATABASE_URL: om.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      LOG_LEVEL: "debug",
    })
    const cli = async (args: ReadonlyArray<string>) => {
      const result = await runCli(args, env)
      outputs.push({ where: `reconciler ${args.join(" ")}`, text: `${result.stdout}\n${result.stderr}` })
      return result
    }
    await cli(["plan"])
    await cli(["plan", "--output", "json"])
    const daemon = start(daemonEnv(services, { ...env, POLL_INTERVAL: "1s", LOG_LEVEL: "debug" }))
    await ready(daemon)
    const room = await synapse.resolveAlias(`#event-leaky-${om.tenant.id}:${s}`)
    if (room === undefined) throw new Error("no room")
    await eventually(
      "the invites",
      async () => (await synapse.memberships(room))[`@${om.tenant.id}.u3:${s}`] === "invite",
      {
        daemon,
      },
    )
    // Drift in Matrix, a change in OpenMeet, and hostile appservice requests (the token in the query).
    const levels = await synapse.powerLevels(room)
    await synapse.setPowerLevels(room, {
      ...levels,
      users: { ...Object(levels.users), [`@${om.tenant.id}.u2:${s}`]: 50 },
    })
    await om.sql(`INSERT INTO $s."eventAttendees" ("eventId", "userId", status, "roleId")
      SELECT 1, 4, 'confirmed', id FROM $s."eventRoles" WHERE name = 'participant'`)
    const txn = (query: string) =>
      fetch(`${services.appserviceUrl}/_matrix/app/v1/transactions/leak-${Math.random()}${query}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: [{ type: 5, room_id: room, content: { note: services.hsToken } }] }),
      })
    await txn(`?access_token=${services.hsToken}`)
    await txn(`?access_token=${services.asToken}`)
    await eventually(
      "u4's invite",
      async () => (await synapse.memberships(room))[`@${om.tenant.id}.u4:${s}`] === "invite",
      {
        daemon,
      },
    )
    outputs.push({ where: "/metrics", text: (await daemon.get("/metrics")).body })
    outputs.push({ where: "/readyz", text: (await daemon.get("/readyz")).body })
    await daemon.stop("SIGTERM")
    outputs.push({ where: "daemon log", text: daemon.log() })
    await cli(["explain", `event:${om.tenant.id}:1`])
    await cli(["explain", `@${om.tenant.id}.u2:${s}`, "--output", "json"])
    await cli(["status"])
    await cli(["apply", "--output", "json"])
    const audit = await om.sql(`SELECT * FROM ${om.schema}.audit_log`)
    outputs.push({ where: "audit_log", text: JSON.stringify(audit) })
    outputs.push({ where: "exported spans", text: Buffer.concat(spans).toString("latin1") })
  }, 240_000)

  it.each([
    ["/metrics"],
    ["/readyz"],
    ["daemon log"],
    ["reconciler plan"],
    ["reconciler plan --output json"],
    ["reconciler explain"],
    ["reconciler status"],
    ["reconciler apply --output json"],
    ["audit_log"],
    ["exported spans"],
  ])("%s", async (where) => {
    await reliabilityCase(
      { class: "leaks", case: where, expected: "no token, password or e-mail address" },
      async (measure) => {
        const texts = outputs.filter((o) => o.where.startsWith(where))
        expect(texts.length).toBeGreaterThan(0)
        expect(texts.every((o) => o.text.length > 0)).toBe(true)
        const leaked = texts.flatMap((o) => secretsIn(o.text))
        measure.faults = texts.length
        measure.survived = leaked.length === 0 ? texts.length : 0
        expect(leaked).toEqual([])
      },
    )
  })
})
