import { hostname } from "node:os"
import type { SqlClient } from "@effect/sql"
import type { RoomKey } from "@openmeet-reconciler/core"
import { Telemetry } from "@openmeet-reconciler/core"
import type { ControllerService, TenantRuntime } from "@openmeet-reconciler/engine"
import {
  Controller,
  ControllerConfig,
  ControllerLive,
  runDatabaseFeed,
  runLeadership,
  type Store,
} from "@openmeet-reconciler/engine"
import type { Homeservers, StateCache } from "@openmeet-reconciler/matrix"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Layer, Option, Ref } from "effect"
import { Health } from "./Health.ts"
import type { DaemonSettings, Settings } from "./Settings.ts"
import { tenantRuntimes } from "./Settings.ts"

type Services = DesiredState | Homeservers | Store | SqlClient.SqlClient

/**
 * What this replica leads: one controller per tenant whose leader lock it holds (all of
 * them in a dry run, which takes no lock), published in Health for the appservice API
 * and /readyz; the database change feed, routed to those controllers. A lost lock
 * abandons rooms in progress at once; SIGTERM gives them SHUTDOWN_GRACE.
 */
export const leadingLayer = (settings: Settings, daemon: DaemonSettings, cache: StateCache) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const health = yield* Health
      const telemetry = yield* Telemetry
      const context = yield* Effect.context<Services>()
      const runtimes = new Map(tenantRuntimes(settings).map((r) => [r.tenant.id, r]))
      let lockLost = false

      const configOf = (runtime: TenantRuntime) =>
        Layer.succeed(ControllerConfig, {
          tenants: [runtime],
          concurrency: settings.concurrency,
          workers: daemon.workers,
          batchSize: daemon.batchSize,
          resyncInterval: daemon.resyncInterval,
          dryRun: daemon.dryRun,
          backoff: { base: "1 second", max: "5 minutes" },
          cache,
          shutdownGrace: daemon.shutdownGrace,
          // Without the lock nothing may be applied: rooms in progress are abandoned at once.
          abandonNow: () => lockLost,
          appserviceId: settings.registration.id,
        })
      /** The tenant's controller in Health while it runs. */
      const published = (tenant: string) =>
        Layer.scopedDiscard(
          Effect.gen(function* () {
            const controller = yield* Controller
            // Another replica led this tenant meanwhile: what this one cached may be old.
            cache.clear()
            yield* Ref.update(health.controllers, (all) => new Map(all).set(tenant, controller))
            yield* Effect.addFinalizer(() =>
              Ref.update(health.controllers, (all) => {
                const rest = new Map(all)
                rest.delete(tenant)
                return rest
              }),
            )
          }),
        )
      const lead = (tenant: string) => {
        const runtime = runtimes.get(tenant)
        if (runtime === undefined) return Effect.void
        return Layer.launch(
          published(tenant).pipe(Layer.provideMerge(ControllerLive), Layer.provide(configOf(runtime))),
        ).pipe(Effect.provide(context))
      }

      // One feed for the replica, whatever it leads: each change goes to its tenant's controller.
      const controllers = Effect.map(Ref.get(health.controllers), (all) => [...all.entries()])
      const router: Pick<ControllerService, "enqueue" | "requestResync"> = {
        enqueue: (keys: ReadonlyArray<RoomKey>, source) =>
          Effect.flatMap(controllers, (all) =>
            Effect.forEach(
              all,
              ([tenant, controller]) => {
                const mine = keys.filter((key) => key.tenant === tenant)
                return mine.length === 0 ? Effect.void : controller.enqueue(mine, source)
              },
              { discard: true },
            ),
          ),
        requestResync: Effect.flatMap(controllers, (all) =>
          Effect.forEach(all, ([, controller]) => controller.requestResync, { discard: true }),
        ),
      }
      yield* Effect.forkScoped(
        runDatabaseFeed(router, {
          tenants: [...runtimes.values()].map((r) => r.tenant),
          databaseUrl: settings.databaseUrl,
          channel: daemon.notifyChannel,
          pollInterval: daemon.pollInterval,
        }).pipe(Effect.provide(context)),
      )

      if (daemon.dryRun) {
        yield* Effect.forEach(runtimes.keys(), (tenant) => Effect.forkScoped(lead(tenant)), { discard: true })
        return
      }
      // Short: it goes into the lock session's application_name (63 bytes), after a prefix.
      const replicaId = `${hostname().slice(0, 24)}/${process.pid}/${Math.random().toString(36).slice(2, 6)}`
      yield* Effect.forkScoped(
        runLeadership({
          databaseUrl: Option.getOrElse(settings.reconcilerDatabaseUrl, () => settings.databaseUrl),
          schema: settings.schema,
          tenants: [...runtimes.keys()],
          replicaId,
          interval: "1 second",
          checkInterval: "1 second",
          lead,
          onLockLost: () => {
            lockLost = true
          },
          onLeading: (led) =>
            Effect.gen(function* () {
              if (led.size > 0) lockLost = false
              telemetry.leader(led.size > 0)
              for (const tenant of runtimes.keys()) telemetry.tenantLeader(tenant, led.has(tenant))
              yield* Ref.set(health.role, led.size > 0 ? "leader" : "standby")
              yield* Ref.set(health.led, [...led].sort())
            }),
        }).pipe(Effect.provide(context)),
      )
    }),
  )
