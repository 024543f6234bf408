import { createServer } from "node:http"
import type { HttpApp } from "@effect/platform"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import type { Controller } from "@openmeet-reconciler/engine"
import { runAsLeader, runDatabaseFeed, Store, startController } from "@openmeet-reconciler/engine"
import { appServiceApp, makeStateCache } from "@openmeet-reconciler/matrix"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { Metrics, makeMetrics } from "@openmeet-reconciler/observability"
import { Context, Duration, Effect, Layer, Option, Ref, Schedule } from "effect"
import { pgLayer, serviceLayer } from "./Runtime.ts"
import type { DaemonSettings, Settings } from "./Settings.ts"
import { SettingsError, tenantRuntimes } from "./Settings.ts"

/** Set once the daemon runs: an interruption (SIGTERM, SIGINT) is then its normal end (exit 0). */
export const daemonState = { running: false }

type Role = "leader" | "standby" | "dry-run"

interface Health {
  readonly role: Ref.Ref<Role>
  readonly controller: Ref.Ref<Option.Option<Controller>>
  /** OpenMeet's database, once connected (the daemon starts serving before that). */
  readonly database: Ref.Ref<Option.Option<Context.Context<SqlClient.SqlClient>>>
}

const withTimeout = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "timed out after 2s" }),
    Effect.match({ onFailure: (error) => `error: ${String(error)}`, onSuccess: () => "ok" }),
  )

/**
 * /healthz: the process answers. /readyz: OpenMeet's database and the homeserver answer,
 * and a leader (or a dry run) has finished its first full resync; a standby is ready
 * when it could take over. /metrics: Prometheus text.
 */
const opsApp = (
  metrics: ReconcilerMetrics,
  health: Health,
  homeserverUrl: string,
): HttpApp.Default<never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const path = new URL(request.url, "http://ops").pathname
    if (request.method !== "GET") return HttpServerResponse.text("method not allowed\n", { status: 405 })
    if (path === "/metrics") {
      const body = yield* Effect.promise(() => metrics.registry.metrics())
      return HttpServerResponse.text(body, { contentType: metrics.registry.contentType })
    }
    if (path === "/healthz") return HttpServerResponse.text("ok\n")
    if (path === "/readyz") {
      const connected = yield* Ref.get(health.database)
      const role = yield* Ref.get(health.role)
      const controller = yield* Ref.get(health.controller)
      const [database, homeserver] = yield* Effect.all(
        [
          Option.isNone(connected)
            ? Effect.succeed("error: not connected yet")
            : withTimeout(
                Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.provide(connected.value)),
              ),
          withTimeout(
            Effect.tryPromise(async () => {
              const response = await fetch(new URL("/_matrix/client/versions", homeserverUrl), {
                signal: AbortSignal.timeout(2000),
              })
              if (!response.ok) throw new Error(`HTTP ${response.status}`)
            }),
          ),
        ],
        { concurrency: "unbounded" },
      )
      const synced =
        role === "standby"
          ? "standby"
          : Option.isSome(controller) && (yield* controller.value.firstSyncDone)
            ? "ok"
            : "not yet"
      const ready = database === "ok" && homeserver === "ok" && synced !== "not yet"
      return HttpServerResponse.unsafeJson(
        { ready, role, checks: { database, homeserver, firstFullSync: synced } },
        { status: ready ? 200 : 503 },
      )
    }
    return HttpServerResponse.text("not found\n", { status: 404 })
  })

/** Serves `app` on a port of its own; fails (at start) when the port cannot be bound. */
const serve = <R>(app: HttpApp.Default<never, R>, port: number, host: string) =>
  HttpServer.serve(app).pipe(Layer.provide(NodeHttpServer.layer(() => createServer(), { port, host })))

/**
 * `reconciler run`: the daemon. One replica leads (a PostgreSQL advisory lock) and runs
 * the controller (queue, workers, resync, database change feed); all serve /metrics,
 * /healthz, /readyz and the appservice API. DRY_RUN plans without the lock and applies
 * nothing. Runs until interrupted (SIGTERM), then stops within SHUTDOWN_GRACE.
 */
export const runDaemon = (settings: Settings, daemon: DaemonSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      daemonState.running = true
      const tenants = tenantRuntimes(settings)
      const metrics = makeMetrics({ tenants: tenants.map((t) => t.tenant.id) })
      const cache = makeStateCache({ maxAge: daemon.stateCacheTtl })
      const services = serviceLayer(settings, {
        desiredState: { onQuery: metrics.observeQuery },
        matrix: { onRequest: metrics.observeMatrixRequest },
        cache,
      })
      const health: Health = {
        role: yield* Ref.make<Role>(daemon.dryRun ? "dry-run" : "standby"),
        controller: yield* Ref.make(Option.none<Controller>()),
        database: yield* Ref.make(Option.none<Context.Context<SqlClient.SqlClient>>()),
      }

      const current = Ref.get(health.controller)
      const appservice = appServiceApp(
        { hsToken: settings.registration.hsToken },
        {
          onEvents: (events) =>
            Effect.flatMap(current, (controller) =>
              Option.isNone(controller)
                ? Effect.succeed(false)
                : controller.value.onMatrixEvents(events).pipe(Effect.as(true)),
            ),
          onAliasQuery: (alias) =>
            Effect.flatMap(current, (controller) =>
              Option.isNone(controller) ? Effect.succeed(false) : controller.value.onAliasQuery(alias),
            ),
        },
      )
      const ops = opsApp(metrics, health, settings.homeserverUrl)
      const servers =
        daemon.httpPort === daemon.appservicePort
          ? serve(
              Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
                request.url.startsWith("/_matrix/") ? appservice : ops,
              ),
              daemon.httpPort,
              daemon.listenAddress,
            )
          : Layer.merge(
              serve(ops, daemon.httpPort, daemon.listenAddress),
              serve(appservice, daemon.appservicePort, daemon.listenAddress),
            )
      yield* Layer.build(servers).pipe(
        Effect.mapError(
          (error) =>
            new SettingsError({
              message: `HTTP_PORT ${daemon.httpPort} / APPSERVICE_PORT ${daemon.appservicePort} on ${daemon.listenAddress}: cannot listen (${error.cause instanceof Error ? error.cause.message : String(error.cause)})`,
            }),
        ),
      )
      yield* Effect.logInfo(
        `listening: metrics and health on ${daemon.listenAddress}:${daemon.httpPort}, appservice on ${daemon.listenAddress}:${daemon.appservicePort}`,
      )

      let lockLost = false
      // A database that is down at start is waited for: /healthz answers, /readyz says why not.
      const retrying = Schedule.exponential("500 millis").pipe(Schedule.either(Schedule.spaced("30 seconds")))
      const context = yield* Layer.build(
        Layer.mergeAll(services, Layer.succeed(Metrics, metrics), pgLayer(settings.databaseUrl)),
      ).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`OpenMeet's database is unreachable (${error.message}); retrying`),
        ),
        Effect.retry(retrying),
      )
      yield* Ref.set(health.database, Option.some(Context.pick(SqlClient.SqlClient)(context)))
      if (!daemon.dryRun) {
        yield* Effect.flatMap(Store, (store) => store.migrate).pipe(
          Effect.provide(context),
          Effect.tapError((error) =>
            Effect.logWarning(`the reconciler's schema: ${error.operation}: ${error.message}; retrying`),
          ),
          Effect.retry(retrying),
        )
      }

      /** The controller and the database change feed, for as long as this replica leads. */
      const lead = Effect.scoped(
        Effect.gen(function* () {
          const controller = yield* startController({
            tenants,
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
          yield* Ref.set(health.controller, Option.some(controller))
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => cache.clear()).pipe(Effect.zipRight(Ref.set(health.controller, Option.none()))),
          )
          return yield* runDatabaseFeed(controller, {
            tenants: tenants.map((t) => t.tenant),
            databaseUrl: settings.databaseUrl,
            channel: daemon.notifyChannel,
            pollInterval: daemon.pollInterval,
          })
        }),
      ).pipe(Effect.provide(context))

      if (daemon.dryRun) return yield* lead.pipe(Effect.zipRight(Effect.never))
      return yield* runAsLeader(
        {
          databaseUrl: Option.getOrElse(settings.reconcilerDatabaseUrl, () => settings.databaseUrl),
          schema: settings.schema,
          retryInterval: Duration.seconds(2),
          checkInterval: Duration.seconds(1),
          onLockLost: () => {
            lockLost = true
          },
          onLeading: (leading) =>
            Effect.sync(() => {
              metrics.leader.set(leading ? 1 : 0)
              if (leading) lockLost = false
            }).pipe(Effect.zipRight(Ref.set(health.role, leading ? "leader" : "standby"))),
        },
        lead,
      )
    }),
  )
