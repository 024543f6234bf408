import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { SqlClient } from "@effect/sql"
import type { ControllerService, Store } from "@openmeet-reconciler/engine"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { Context, Effect, Layer, Option, Ref } from "effect"

/** `starting`: the replica has not yet taken part in sharing the tenants out. */
export type Role = "starting" | "leader" | "standby" | "dry-run"

type StoreService = Context.Tag.Service<Store>

/** What the daemon knows of itself, for its health endpoints and its appservice API. */
export interface HealthService {
  readonly role: Ref.Ref<Role>
  /** The controllers this replica runs, by tenant: those it leads (all of them in a dry run). */
  readonly controllers: Ref.Ref<ReadonlyMap<string, ControllerService>>
  /** The tenants whose leader lock this replica holds. */
  readonly led: Ref.Ref<ReadonlyArray<string>>
  /** OpenMeet's database, once connected (the daemon starts serving before that). */
  readonly database: Ref.Ref<Option.Option<Context.Context<SqlClient.SqlClient>>>
  /** The reconciler's schema, once connected: a standby relays refused transactions through it. */
  readonly store: Ref.Ref<Option.Option<StoreService>>
}

export class Health extends Context.Tag("@openmeet-reconciler/reconciler/Health")<Health, HealthService>() {
  static readonly layer = (role: Role) =>
    Layer.effect(
      Health,
      Effect.all({
        role: Ref.make<Role>(role),
        controllers: Ref.make<ReadonlyMap<string, ControllerService>>(new Map()),
        led: Ref.make<ReadonlyArray<string>>([]),
        database: Ref.make(Option.none<Context.Context<SqlClient.SqlClient>>()),
        store: Ref.make(Option.none<StoreService>()),
      }),
    )
}

const withTimeout = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "timed out after 2s" }),
    Effect.match({ onFailure: (error) => `error: ${String(error)}`, onSuccess: () => "ok" }),
  )

/**
 * /healthz: the process answers. /readyz: OpenMeet's database and a homeserver answer,
 * and the controller of every tenant this replica leads (or all, in a dry run) has
 * finished its first full resync; a standby, leading none, is ready when it could take
 * over. `tenants` lists the tenants it leads. /metrics: Prometheus text. /plan:
 * PlanEndpoint.ts.
 */
export const opsApp = (
  metrics: ReconcilerMetrics,
  health: HealthService,
  homeserverUrls: ReadonlyArray<string>,
  plan: HttpApp.Default<never, HttpServerRequest.HttpServerRequest>,
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
    if (path === "/plan") return yield* plan
    if (path === "/readyz") {
      const connected = yield* Ref.get(health.database)
      const role = yield* Ref.get(health.role)
      const controllers = [...(yield* Ref.get(health.controllers)).values()]
      const led = yield* Ref.get(health.led)
      const { database, homeservers } = yield* Effect.all(
        {
          database: Option.isNone(connected)
            ? Effect.succeed("error: not connected yet")
            : withTimeout(
                Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.provide(connected.value)),
              ),
          homeservers: Effect.forEach(
            homeserverUrls,
            (url) =>
              withTimeout(
                Effect.tryPromise(async () => {
                  const response = await fetch(new URL("/_matrix/client/versions", url), {
                    signal: AbortSignal.timeout(2000),
                  })
                  if (!response.ok) throw new Error(`HTTP ${response.status}`)
                }),
              ).pipe(Effect.map((result) => ({ url, result }))),
            { concurrency: "unbounded" },
          ),
        },
        { concurrency: "unbounded" },
      )
      // One homeserver down fails only its tenants: the replica serves the others.
      const down = homeservers.filter((h) => h.result !== "ok")
      const homeserver =
        down.length === 0
          ? "ok"
          : down.map((h) => (homeservers.length === 1 ? h.result : `${h.url}: ${h.result}`)).join("; ")
      const anyHomeserver = down.length < homeservers.length
      const synced =
        role === "starting"
          ? "not yet"
          : role === "standby"
            ? "standby"
            : controllers.length > 0 && (yield* Effect.forEach(controllers, (c) => c.firstSyncDone)).every(Boolean)
              ? "ok"
              : "not yet"
      const ready = database === "ok" && anyHomeserver && synced !== "not yet"
      return HttpServerResponse.unsafeJson(
        { ready, role, tenants: led, checks: { database, homeserver, firstFullSync: synced } },
        { status: ready ? 200 : 503 },
      )
    }
    return HttpServerResponse.text("not found\n", { status: 404 })
  })
