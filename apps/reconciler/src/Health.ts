import type { HttpApp } from "@effect/platform"
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import type { ControllerService, Store } from "@openmeet-reconciler/engine"
import type { ReconcilerMetrics } from "@openmeet-reconciler/observability"
import { Context, Effect, Layer, Option, Ref } from "effect"

export type Role = "leader" | "standby" | "dry-run"

type StoreService = Context.Tag.Service<Store>

/** What the daemon knows of itself, for its health endpoints and its appservice API. */
export interface HealthService {
  readonly role: Ref.Ref<Role>
  /** The controller, while this replica leads (or plans, in a dry run). */
  readonly controller: Ref.Ref<Option.Option<ControllerService>>
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
        controller: Ref.make(Option.none<ControllerService>()),
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
 * /healthz: the process answers. /readyz: OpenMeet's database and the homeserver answer,
 * and a leader (or a dry run) has finished its first full resync; a standby is ready
 * when it could take over. /metrics: Prometheus text. /plan: PlanEndpoint.ts.
 */
export const opsApp = (
  metrics: ReconcilerMetrics,
  health: HealthService,
  homeserverUrl: string,
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
