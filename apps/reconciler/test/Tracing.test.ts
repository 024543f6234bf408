import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "./cli.ts"
import { otlpCollector } from "./collector.ts"

const services = testServices()
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
afterAll(() => db.dispose())

describe("OpenTelemetry export", () => {
  it("sends the spans of an apply over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    const collector = await otlpCollector()
    try {
      const tenant = fixtureTenant(uniqueTenantId("otl"), services.serverName)
      await db.runPromise(
        Effect.gen(function* () {
          yield* resetTenant(tenant, 40)
          for (const id of [1, 2]) yield* addUser(tenant, { id })
          yield* addEvent(tenant, { id: 1, slug: "traced", userId: 1 })
          yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
        }),
      )
      const result = await runCli(
        ["apply"],
        cliEnv(services, {
          TENANTS_B64: tenantsB64([tenant]),
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_SERVICE_NAME: "reconciler-under-test",
        }),
      )
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(collector.traces().length).toBeGreaterThan(0)
      const body = collector.tracesText()
      for (const name of [
        "reconciler-under-test",
        "reconcile.cycle",
        "reconcile.plan",
        "reconcile.apply",
        "reconcile.room",
        "matrix.request",
        "DesiredState.query events",
        `event:${tenant.id}:1`,
      ]) {
        expect(body).toContain(name)
      }
      // Tokens never leave in spans.
      expect(body).not.toContain(services.asToken)
    } finally {
      await collector.close()
    }
  })
})
