import { createServer } from "node:http"
import type { HttpApp } from "@effect/platform"
import { HttpMiddleware, HttpServer, HttpServerRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Telemetry } from "@openmeet-reconciler/core"
import {
  Controller,
  ControllerConfig,
  ControllerLive,
  databaseFeedLayer,
  runAsLeader,
  Store,
} from "@openmeet-reconciler/engine"
import type { Homeservers, RoomEvent, StateCache } from "@openmeet-reconciler/matrix"
import { appServiceApp, makeStateCache, staleKeys } from "@openmeet-reconciler/matrix"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { makeMetrics, telemetryLayer } from "@openmeet-reconciler/observability"
import type { DesiredState } from "@openmeet-reconciler/openmeet"
import { Context, Duration, Effect, Layer, Option, Ref, Schedule } from "effect"
import { Health, opsApp } from "./Health.ts"
import { planEndpoint } from "./PlanEndpoint.ts"
import { pgLayer, serviceLayer } from "./Runtime.ts"
import type { DaemonSettings, Settings } from "./Settings.ts"
import { SettingsError, tenantRuntimes } from "./Settings.ts"

/**
 * Serves `app` on a port of its own; fails (at start) when the port cannot be bound. A
 * request must arrive whole within 30 s (a slow body holds no socket forever). Requests
 * carrying the legacy `access_token` query parameter (the hs_token) get no HTTP server
 * span: its `url.full` and `url.query` attributes would carry the token to the collector.
 */
const serve = <R>(app: HttpApp.Default<never, R>, port: number, host: string) =>
  HttpMiddleware.withTracerDisabledWhen(
    HttpServer.serve(app).pipe(
      Layer.provide(
        NodeHttpServer.layer(() => createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }), { port, host }),
      ),
    ),
    (request) => request.url.includes("access_token="),
  )

/**
 * A standby stores the rooms a transaction changed for the leader (which reads them again)
 * and so may accept it: true once stored. Without its schema it refuses (503) and the
 * homeserver sends the transaction again later.
 */
const relay = (health: Context.Tag.Service<Health>, events: ReadonlyArray<RoomEvent>) =>
  Effect.gen(function* () {
    const store = yield* Ref.get(health.store)
    if (Option.isNone(store)) return false
    const rooms = events.flatMap((event) => (event.state_key === undefined ? [] : [event.room_id]))
    // Persisted states of these rooms are stale from now on, whoever leads next.
    return yield* store.value.invalidateStates(staleKeys(events)).pipe(
      Effect.zipRight(store.value.relayRooms(rooms)),
      Effect.as(true),
      Effect.catchAll((error) =>
        Effect.logWarning(`relaying a transaction to the leader: ${error.message}; refused`).pipe(Effect.as(false)),
      ),
    )
  })

/** The HTTP side: /metrics, /healthz, /readyz, and the appservice API the homeserver calls. */
const httpLayer = (settings: Settings, daemon: DaemonSettings, metrics: ReconcilerMetrics) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const health = yield* Health
      const current = Ref.get(health.controller)
      const appservice = appServiceApp(
        { hsToken: settings.registration.hsToken },
        {
          // A standby hands the transaction to the leader through the reconciler's schema.
          onEvents: (events) =>
            Effect.flatMap(current, (controller) =>
              Option.isSome(controller)
                ? controller.value.onMatrixEvents(events).pipe(
                    Effect.as(true),
                    Effect.catchAll((error) =>
                      Effect.logWarning(`a transaction's rooms: ${error.message}; refused`).pipe(Effect.as(false)),
                    ),
                  )
                : relay(health, events),
            ),
          onAliasQuery: (alias) =>
            Effect.flatMap(current, (controller) =>
              Option.isNone(controller) ? Effect.succeed(false) : controller.value.onAliasQuery(alias),
            ),
        },
      )
      const ops = opsApp(metrics, health, settings.homeserverUrl, planEndpoint(settings, health))
      const { httpPort, appservicePort, listenAddress } = daemon
      const servers =
        httpPort === appservicePort
          ? serve(
              Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
                request.url.startsWith("/_matrix/") ? appservice : ops,
              ),
              httpPort,
              listenAddress,
            )
          : Layer.merge(serve(ops, httpPort, listenAddress), serve(appservice, appservicePort, listenAddress))
      return servers.pipe(
        Layer.catchAll((error) =>
          Layer.fail(
            new SettingsError({
              message: `HTTP_PORT ${httpPort} / APPSERVICE_PORT ${appservicePort} on ${listenAddress}: cannot listen (${error instanceof Error ? error.message : String(error)})`,
            }),
          ),
        ),
        Layer.tap(() =>
          Effect.logInfo(
            `listening: metrics and health on ${listenAddress}:${httpPort}, appservice on ${listenAddress}:${appservicePort}`,
          ),
        ),
      )
    }),
  )

/** A database that is down at start is waited for, with capped backoff: /healthz answers, /readyz says why. */
const retrying = Schedule.exponential("500 millis").pipe(Schedule.either(Schedule.spaced("30 seconds")))

/** OpenMeet's database, the reconciler's schema (migrated) and the homeservers, once reachable. */
const servicesLayer = (settings: Settings, daemon: DaemonSettings, cache: StateCache) =>
  Layer.mergeAll(serviceLayer(settings, { cache }), pgLayer(settings.databaseUrl)).pipe(
    Layer.tapError((error) => Effect.logWarning(`OpenMeet's database is unreachable (${error.message}); retrying`)),
    Layer.retry(retrying),
    Layer.tap((context) =>
      Effect.flatMap(Health, (health) =>
        Ref.set(health.database, Option.some(Context.pick(SqlClient.SqlClient)(context))).pipe(
          Effect.zipRight(Ref.set(health.store, Option.some(Context.get(context, Store)))),
        ),
      ),
    ),
    Layer.tap((context) =>
      daemon.dryRun
        ? Effect.void
        : Effect.flatMap(Store, (store) => store.migrate).pipe(
            Effect.provide(context),
            Effect.tapError((error) =>
              Effect.logWarning(`the reconciler's schema: ${error.operation}: ${error.message}; retrying`),
            ),
            Effect.retry(retrying),
          ),
    ),
  )

/**
 * Leadership: the controller and the database change feed run only while this replica
 * holds the leader lock (a dry run plans without it). A lost lock abandons rooms in
 * progress at once; SIGTERM gives them SHUTDOWN_GRACE.
 */
const leaderLayer = (settings: Settings, daemon: DaemonSettings, cache: StateCache) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const health = yield* Health
      const telemetry = yield* Telemetry
      const tenants = tenantRuntimes(settings)
      let lockLost = false
      const published = Layer.scopedDiscard(
        Effect.gen(function* () {
          yield* Ref.set(health.controller, Option.some(yield* Controller))
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => cache.clear()).pipe(Effect.zipRight(Ref.set(health.controller, Option.none()))),
          )
        }),
      )
      const config = Layer.succeed(ControllerConfig, {
        tenants,
        concurrency: settings.concurrency,
        workers: daemon.workers,
        batchSize: daemon.batchSize,
        resyncInterval: daemon.resyncInterval,
        dryRun: daemon.dryRun,
        backoff: { base: "1 second", max: "5 minutes" },
        cache,
        // A dry run writes nothing, persisted states included.
        persistStates: !daemon.dryRun,
        shutdownGrace: daemon.shutdownGrace,
        // Without the lock nothing may be applied: rooms in progress are abandoned at once.
        abandonNow: () => lockLost,
        appserviceId: settings.registration.id,
      })
      const feed = databaseFeedLayer({
        tenants: tenants.map((t) => t.tenant),
        databaseUrl: settings.databaseUrl,
        channel: daemon.notifyChannel,
        pollInterval: daemon.pollInterval,
      })
      const lead = Layer.launch(
        Layer.mergeAll(published, feed).pipe(Layer.provideMerge(ControllerLive), Layer.provide(config)),
      )
      const context = yield* Effect.context<DesiredState | Homeservers | Store | SqlClient.SqlClient>()
      const leading = lead.pipe(Effect.provide(context))
      if (daemon.dryRun) return yield* Effect.forkScoped(leading)
      return yield* Effect.forkScoped(
        runAsLeader(
          {
            databaseUrl: Option.getOrElse(settings.reconcilerDatabaseUrl, () => settings.databaseUrl),
            schema: settings.schema,
            retryInterval: Duration.seconds(2),
            checkInterval: Duration.seconds(1),
            onLockLost: () => {
              lockLost = true
            },
            onLeading: (isLeading) =>
              Effect.sync(() => {
                telemetry.leader(isLeading)
                if (isLeading) lockLost = false
              }).pipe(Effect.zipRight(Ref.set(health.role, isLeading ? "leader" : "standby"))),
          },
          leading,
        ),
      )
    }),
  )

/**
 * `reconciler run`: the daemon, as merged layers. All replicas serve /metrics, /healthz,
 * /readyz and the appservice API; one leads (a PostgreSQL advisory lock) and runs the
 * controller. Runs until interrupted (SIGTERM), then stops within SHUTDOWN_GRACE.
 */
export const runDaemon = (settings: Settings, daemon: DaemonSettings) => {
  const metrics = makeMetrics({ tenants: settings.tenants.map((t) => t.id) })
  const cache = makeStateCache({ maxAge: daemon.stateCacheTtl })
  const main = Layer.mergeAll(
    httpLayer(settings, daemon, metrics),
    leaderLayer(settings, daemon, cache).pipe(Layer.provide(servicesLayer(settings, daemon, cache))),
  ).pipe(Layer.provide(Health.layer(daemon.dryRun ? "dry-run" : "standby")), Layer.provide(telemetryLayer(metrics)))
  return Layer.launch(main)
}
