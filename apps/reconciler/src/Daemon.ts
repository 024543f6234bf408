import { createServer } from "node:http"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SqlClient } from "@effect/sql"
import { Store } from "@openmeet-reconciler/engine"
import type { RoomEvent, StateCache } from "@openmeet-reconciler/matrix"
import { appServiceApp, makeStateCache, staleKeys } from "@openmeet-reconciler/matrix"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { makeMetrics, telemetryLayer } from "@openmeet-reconciler/observability"
import { Context, Effect, Layer, Option, Redacted, Ref, Schedule } from "effect"
import { Health, opsApp } from "./Health.ts"
import { releaseIdleHeap } from "./HeapRelease.ts"
import { leadingLayer } from "./Leading.ts"
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
    (request) => carriesQueryToken(request.url),
  )

/**
 * Whether the request has an `access_token` query parameter as the appservice reads it:
 * decoded, so `acc%65ss_token` counts too. A URL that does not parse is not traced either.
 */
const carriesQueryToken = (url: string): boolean => {
  try {
    return new URL(url, "http://appservice").searchParams.has("access_token")
  } catch {
    return true
  }
}

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
    return yield* store.value.relayRooms(rooms).pipe(
      Effect.as(true),
      Effect.catchAll((error) =>
        Effect.logWarning(`relaying a transaction to the leader: ${error.message}; refused`).pipe(Effect.as(false)),
      ),
    )
  })

/**
 * Persisted room states (and free aliases) that a transaction's events make stale are
 * invalidated before it is accepted, whoever accepts it (a replica leading the tenant or
 * not), whichever homeserver sent it: keys are room ids and aliases, the same on every
 * homeserver. The cache's token moves past that invalidation first, so reads begun after
 * the rooms are dropped are persisted. False (the transaction is refused, and sent again)
 * when the schema cannot be written; a dry run writes nothing.
 */
const invalidatePersisted = (
  health: Context.Tag.Service<Health>,
  cache: StateCache,
  dryRun: boolean,
  events: ReadonlyArray<RoomEvent>,
) =>
  Effect.gen(function* () {
    const keys = staleKeys(events)
    if (dryRun || keys.length === 0) return true
    const store = yield* Ref.get(health.store)
    if (Option.isNone(store)) return false
    return yield* store.value.invalidateStates(keys).pipe(
      Effect.map((version) => {
        cache.advanceToken(version)
        return true
      }),
      Effect.catchAll((error) =>
        Effect.logWarning(`a transaction's persisted room states: ${error.message}; refused`).pipe(Effect.as(false)),
      ),
    )
  })

/**
 * A transaction's events: those of rooms a controller here owns go to it; the others are
 * handed to their tenant's leader through the reconciler's schema (a standby hands on
 * all). The state cache drops whatever they change either way, after their persisted
 * states.
 */
const dispatch = (
  health: Context.Tag.Service<Health>,
  cache: StateCache,
  bots: ReadonlySet<string>,
  dryRun: boolean,
  events: ReadonlyArray<RoomEvent>,
) =>
  Effect.gen(function* () {
    if (!(yield* invalidatePersisted(health, cache, dryRun, events))) return false
    cache.onEvents(events)
    const controllers = [...(yield* Ref.get(health.controllers)).values()]
    for (const controller of controllers) {
      const mine = events.filter((event) => controller.owns(event.room_id))
      if (mine.length > 0) yield* controller.onMatrixEvents(mine)
    }
    // The reconciler's own writes need no reconcile anywhere (a room it just made is not
    // yet known as its own when their events arrive); only others' changes are handed on.
    const elsewhere = events.filter(
      (event) =>
        !(event.sender !== undefined && (bots.has(event.sender) || cache.isBot(event.sender))) &&
        !controllers.some((controller) => controller.owns(event.room_id)),
    )
    return elsewhere.length === 0 ? true : yield* relay(health, elsewhere)
  })

/**
 * An alias query, answered by the controller of the alias's tenant when this replica leads
 * it and the homeserver asking (`origin`, its hs_token) is the one serving that tenant.
 */
const aliasQuery = (health: Context.Tag.Service<Health>, alias: string, origin: Redacted.Redacted<string>) =>
  Effect.gen(function* () {
    for (const controller of (yield* Ref.get(health.controllers)).values()) {
      if (yield* controller.onAliasQuery(alias, origin)) return true
    }
    return false
  })

/**
 * The hs_tokens the appservice API accepts: APPSERVICE_REGISTRATION's (MATRIX_HOMESERVER_URL)
 * and each tenant's own `matrixConfig.appservice.hsToken` (its own homeserver).
 */
const hsTokens = (settings: Settings): ReadonlyArray<Redacted.Redacted<string>> => {
  const tokens = new Map([[Redacted.value(settings.registration.hsToken), settings.registration.hsToken]])
  for (const tenant of settings.tenants)
    if (tenant.hsToken !== undefined) tokens.set(Redacted.value(tenant.hsToken), tenant.hsToken)
  return [...tokens.values()]
}

/** Every homeserver the daemon may talk to, for /readyz. */
const homeserverUrls = (settings: Settings): ReadonlyArray<string> => [
  ...new Set([
    settings.homeserverUrl,
    ...settings.tenants.flatMap((t) => (t.homeserverUrl === undefined ? [] : [t.homeserverUrl])),
  ]),
]

/** Tenants whose own homeserver cannot be told from a stranger: its transactions and alias queries are refused. */
const warnMissingHsTokens = (settings: Settings) =>
  Effect.forEach(
    settings.tenants.filter((t) => t.homeserverUrl !== undefined && t.asToken !== undefined && t.hsToken === undefined),
    (tenant) =>
      Effect.logWarning(
        `tenant ${JSON.stringify(tenant.id)}: matrixConfig names its own homeserver but no appservice.hsToken; if that homeserver is not MATRIX_HOMESERVER_URL, its transactions and alias queries are refused (403) and its rooms follow Matrix only at each resync`,
      ),
    { discard: true },
  )

/** The HTTP side: /metrics, /healthz, /readyz, and the appservice API the homeserver calls. */
const httpLayer = (settings: Settings, daemon: DaemonSettings, metrics: ReconcilerMetrics, cache: StateCache) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const health = yield* Health
      const bots = new Set(tenantRuntimes(settings).map((r) => r.botUserId))
      const appservice = appServiceApp(
        { hsTokens: hsTokens(settings) },
        {
          onEvents: (events) => dispatch(health, cache, bots, daemon.dryRun, events),
          onAliasQuery: (alias, origin) => aliasQuery(health, alias, origin),
        },
      )
      const ops = opsApp(metrics, health, homeserverUrls(settings), planEndpoint(settings, health))
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
      yield* warnMissingHsTokens(settings)
      return servers.pipe(
        Layer.catchAll((error) =>
          Layer.fail(
            new SettingsError({
              message: `HTTP_PORT ${httpPort} / APPSERVICE_PORT ${appservicePort} on ${listenAddress}: cannot listen (${listenFailure(error)})`,
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

/** Why a port could not be opened: the platform's reason (EADDRINUSE…) sits in the ServeError's cause. */
const listenFailure = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const text = cause instanceof Error ? cause.message : String(cause)
  return text === "" ? String(cause) : text
}

/**
 * `reconciler run`: the daemon, as merged layers. All replicas serve /metrics, /healthz,
 * /readyz and the appservice API; one leads (a PostgreSQL advisory lock) and runs the
 * controller. Runs until interrupted (SIGTERM), then stops within SHUTDOWN_GRACE.
 */
export const runDaemon = (settings: Settings, daemon: DaemonSettings) => {
  const metrics = makeMetrics({ tenants: settings.tenants.map((t) => t.id) })
  const cache = makeStateCache({ maxAge: daemon.stateCacheTtl })
  const main = Layer.mergeAll(
    httpLayer(settings, daemon, metrics, cache),
    leadingLayer(settings, daemon, cache).pipe(Layer.provide(servicesLayer(settings, daemon, cache))),
    daemon.releaseIdleHeap ? Layer.scopedDiscard(Effect.forkScoped(releaseIdleHeap())) : Layer.empty,
  ).pipe(Layer.provide(Health.layer(daemon.dryRun ? "dry-run" : "starting")), Layer.provide(telemetryLayer(metrics)))
  return Layer.launch(main)
}
