import { createServer } from "node:http"
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

const services = testServices()
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
afterAll(() => db.dispose())

describe("OpenTelemetry export", () => {
  it("sends the spans of an apply over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    const received: Array<{ readonly path: string; readonly body: Buffer }> = []
    const collector = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        received.push({ path: request.url ?? "", body: Buffer.concat(chunks) })
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end()
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
    const address = collector.address()
    if (address === null || typeof address === "string") throw new Error("no collector port")
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
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${address.port}`,
          OTEL_SERVICE_NAME: "reconciler-under-test",
        }),
      )
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      const traces = received.filter((r) => r.path === "/v1/traces")
      expect(traces.length).toBeGreaterThan(0)
      const body = Buffer.concat(traces.map((t) => t.body)).toString("latin1")
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
      await new Promise<void>((resolve) => collector.close(() => resolve()))
    }
  })
})
