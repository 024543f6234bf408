import { fixtureTenant, resetTenant, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { uniqueTenantId } from "@openmeet-reconciler/testing"
import { describe, expect, it } from "vitest"
import { otlpCollector } from "./collector.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, db, s } = harness()
const start = daemonStarter()

/** An empty transaction to the daemon's appservice port, the hs_token where `auth` puts it. */
const transaction = (txnId: string, auth: "header" | "query" | "encoded query") => {
  const url = new URL(`/_matrix/app/v1/transactions/${txnId}`, services.appserviceUrl)
  // The name percent-encoded is the same parameter to the server (`%65` is `e`).
  if (auth !== "header") url.search = `?${auth === "query" ? "access_token" : "acc%65ss_token"}=${services.hsToken}`
  return fetch(url, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      ...(auth === "header" ? { authorization: `Bearer ${services.hsToken}` } : {}),
    },
    body: JSON.stringify({ events: [] }),
  })
}

describe("reconciler run: the hs_token and traces", () => {
  it("transactions with the hs_token in the query or in the header are traced, the token never is", async () => {
    const collector = await otlpCollector()
    try {
      const tenant = fixtureTenant(uniqueTenantId("dtk"), s)
      await db.runPromise(resetTenant(tenant, 40))
      const daemon = start(
        daemonEnv(services, {
          TENANTS_B64: tenantsB64([tenant]),
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_BSP_SCHEDULE_DELAY: "200",
        }),
      )
      await ready(daemon)
      const ids = { header: `h-${tenant.id}`, query: `q-${tenant.id}`, "encoded query": `e-${tenant.id}` } as const
      for (const [auth, txnId] of Object.entries(ids) as Array<[keyof typeof ids, string]>) {
        const response = await transaction(txnId, auth)
        expect(response.status, auth).toBe(200)
      }
      // Each transaction's own span carries its id: all three were exported.
      await eventually(
        "the three transactions' spans",
        async () => Object.values(ids).every((txnId) => collector.tracesText().includes(txnId)),
        { daemon },
      )
      expect(collector.tracesText()).toContain("appservice.transaction")
      expect(collector.tracesText()).not.toContain(services.hsToken)
      // What is still to come (the export at shutdown) carries no token either.
      expect((await daemon.stop("SIGTERM")).code).toBe(0)
      expect(collector.tracesText()).not.toContain(services.hsToken)
    } finally {
      await collector.close()
    }
  })
})
