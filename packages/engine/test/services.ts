import type { StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers } from "@openmeet-reconciler/matrix"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { telemetryLayer } from "@openmeet-reconciler/observability"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import type { TestServices } from "@openmeet-reconciler/testing"
import { sqlLayer } from "@openmeet-reconciler/testing"
import { Effect, Layer, Redacted } from "effect"
import type { ControllerOptions, TenantRuntime } from "../src/index.ts"
import { Store } from "../src/index.ts"

/**
 * What a pass runs on in a test: OpenMeet's real database, the reconciler's tables in a
 * schema of the test's own, and the homeserver at `homeserverUrl` (default the real one).
 */
export const passServices = (
  services: TestServices,
  schema: string,
  homeserverUrl = services.homeserverUrl,
  cache?: StateCache,
) =>
  Layer.mergeAll(
    Layer.provideMerge(Layer.merge(DesiredState.layer, Store.layer(schema)), sqlLayer(services.databaseUrl)),
    Homeservers.layer({ homeserverUrl, asToken: Redacted.make(services.asToken) }, {}, cache),
  )

/** What a controller runs on in a test: `passServices` through `cache`, metrics into `metrics`. */
export const controllerServices = (
  services: TestServices,
  schema: string,
  cache: StateCache,
  metrics: ReconcilerMetrics,
) => Layer.merge(passServices(services, schema, services.homeserverUrl, cache), telemetryLayer(metrics))

/** Polls `check` every 100 ms until it holds; dies naming `what` after 30 s. */
export const waitUntil = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 300; i++) {
      if (yield* check) return
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** `reconciler_actions_total` of one action type and result, summed over the label sets. */
export const actionsCounted = (metrics: ReconcilerMetrics, type: string, result = "applied") =>
  Effect.promise(() =>
    metrics.actionsTotal
      .get()
      .then((m) =>
        m.values.filter((v) => v.labels.type === type && v.labels.result === result).reduce((n, v) => n + v.value, 0),
      ),
  )

/** A controller of one tenant for a test: 2 workers, batches of 10, no resync within the test. */
export const controllerOptions = (runtime: TenantRuntime, cache: StateCache): ControllerOptions => ({
  tenants: [runtime],
  concurrency: 4,
  workers: 2,
  batchSize: 10,
  resyncInterval: "1 hour",
  dryRun: false,
  backoff: { base: "1 second", max: "10 seconds" },
  cache,
  shutdownGrace: "1 second",
  appserviceId: "openmeet-bot",
})
