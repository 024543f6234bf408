/**
 * Least privilege: every command that should work does, as a PostgreSQL role with only
 * SELECT on OpenMeet's tables, its own schema and a password (LISTEN needs no grant), on
 * a cluster of the test's own. install-triggers as that role fails with a message naming
 * each missing right; as the tables' owner it works, and the read-only daemon then
 * listens. Nothing the role did could have written OpenMeet's tables: it cannot.
 */

import { SqlClient } from "@effect/sql"
import { addAttendee, addEvent, addUser, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { reliabilityCase, sqlLayer, synapseClient, testServices } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "../cli.ts"
import { daemonEnv, daemonStarter, eventually, ready } from "../daemon.ts"
import type { PrivateOpenMeet } from "./privateOpenMeet.ts"
import { privateOpenMeet, readOnlyRole } from "./privateOpenMeet.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const start = daemonStarter()
let om: PrivateOpenMeet

beforeAll(async () => {
  om = await privateOpenMeet("least-privilege", 19420, s, (tenant) =>
    Effect.gen(function* () {
      for (const id of [1, 2, 3, 4]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "lp", userId: 1, visibility: "private" })
      yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
    }),
  )
}, 120_000)

afterAll(async () => {
  await om?.dispose()
})

const mx = (n: number) => `@${om.tenant.id}.u${n}:${s}`
const env = (extra: Record<string, string> = {}) =>
  cliEnv(services, { TENANTS_B64: tenantsB64([om.tenant]), DATABASE_URL: om.url, ...extra })
const membership = async (user: string) => {
  const room = await synapse.resolveAlias(`#event-lp-${om.tenant.id}:${s}`)
  return room === undefined ? undefined : (await synapse.memberships(room))[user]
}

interface Step {
  readonly name: string
  readonly expected: string
  readonly run: () => Promise<void>
}

const steps: ReadonlyArray<Step> = [
  {
    name: "plan",
    expected: "works (exit 2: changes pending)",
    run: async () => {
      const result = await runCli(["plan", "--detailed-exitcode"], env())
      expect(result.stderr).toBe("")
      expect(result.code).toBe(2)
    },
  },
  {
    name: "apply (migrates its own schema)",
    expected: "works",
    run: async () => {
      const result = await runCli(["apply"], env())
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(await membership(mx(2))).toBe("invite")
    },
  },
  {
    name: "status",
    expected: "works",
    run: async () => {
      const result = await runCli(["status", "--output", "json"], env())
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toMatchObject({ lastPass: { failed: 0 } })
    },
  },
  {
    name: "explain",
    expected: "works",
    run: async () => {
      const result = await runCli(["explain", `event:${om.tenant.id}:1`], env())
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(mx(2))
    },
  },
  {
    name: "run, polling (no triggers)",
    expected: "works: a new RSVP is invited",
    run: async () => {
      const daemon = start(daemonEnv(services, { ...env(), POLL_INTERVAL: "1s" }))
      await ready(daemon)
      await om.sql(`INSERT INTO $s."eventAttendees" ("eventId", "userId", status, "roleId")
        SELECT 1, 3, 'confirmed', id FROM $s."eventRoles" WHERE name = 'participant'`)
      await eventually("u3's invite", async () => (await membership(mx(3))) === "invite", { daemon })
      expect((await daemon.stop("SIGTERM")).code).toBe(0)
    },
  },
  {
    name: "install-triggers as the read-only role",
    expected: "exit 1 naming each missing right",
    run: async () => {
      const result = await runCli(["install-triggers"], env())
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(
        `install-triggers: the database role "${readOnlyRole}" lacks CREATE on schema public`,
      )
      expect(result.stderr).toContain(`CREATE on schema ${om.tenant.schema}`)
      expect(result.stderr).toContain(`TRIGGER on public."matrixHandleRegistry", "${om.tenant.schema}"."events"`)
      expect(result.stderr).not.toContain(om.password)
    },
  },
  {
    name: "run, listening (triggers installed by the tables' owner)",
    expected: "works: LISTEN needs no grant; a new RSVP is invited",
    run: async () => {
      const owner = await runCli(["install-triggers"], env({ DATABASE_URL: om.pg.databaseUrl }))
      expect(owner.code).toBe(0)
      const daemon = start(daemonEnv(services, { ...env(), POLL_INTERVAL: "1h" }))
      await ready(daemon)
      await om.sql(`INSERT INTO $s."eventAttendees" ("eventId", "userId", status, "roleId")
        SELECT 1, 4, 'confirmed', id FROM $s."eventRoles" WHERE name = 'participant'`)
      // Polling every hour: only a NOTIFY can bring it this soon.
      await eventually("u4's invite", async () => (await membership(mx(4))) === "invite", { daemon })
      expect((await daemon.stop("SIGTERM")).code).toBe(0)
    },
  },
  {
    name: "uninstall-triggers as the read-only role",
    expected: "exit 1: dropping them needs the tables' owner",
    run: async () => {
      const result = await runCli(["uninstall-triggers"], env())
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/uninstall-triggers.*must be owner of (table|relation)/)
    },
  },
  {
    name: "the role cannot write OpenMeet's tables",
    expected: "permission denied: every run above was read-only",
    run: async () => {
      const asRole = ManagedRuntime.make(sqlLayer(om.url))
      try {
        const attempt = asRole.runPromise(
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql.unsafe(`UPDATE "${om.tenant.schema}".events SET name = 'hijacked' WHERE id = 1`),
          ),
        )
        await expect(attempt).rejects.toThrow()
      } finally {
        await asRole.dispose()
      }
    },
  },
  {
    name: "apply as a role without its own schema",
    expected: "exit 1 naming the schema to create for it",
    run: async () => {
      const result = await runCli(["apply"], env({ RECONCILER_SCHEMA: "not_created" }))
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`schema not_created does not exist and this role may not create it`)
      expect(result.stderr).toContain(`CREATE SCHEMA "not_created" AUTHORIZATION <role>`)
    },
  },
]

describe("least privilege: the daemon and the CLI as a SELECT-only role", () => {
  it.each(steps)("$name", async (step) => {
    await reliabilityCase({ class: "least-privilege", case: step.name, expected: step.expected }, async (measure) => {
      // The fault is the role itself: every step runs with only the rights it was granted.
      measure.faults = 1
      await step.run()
      measure.survived = 1
    })
  })
})
