import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { compareRoomPlans, parseRoomKey } from "@openmeet-reconciler/core"
import type { PlanResult, Scope, TenantFailure } from "@openmeet-reconciler/engine"
import { Data, Effect, Either, Option, Ref, Schema } from "effect"
import type { HealthService } from "./Health.ts"
import type { PlanVerdict } from "./PlanRequest.ts"
import { planOutput, resolveScope, tenantFailureLine, verdictOf } from "./PlanRequest.ts"
import type { Settings } from "./Settings.ts"

/*
 * `GET /plan` on a running daemon, and `plan --daemon URL`, which prints its answer. The
 * leader computes the plan from its warm state cache, as a dry run (nothing changes): the
 * body is what `plan` prints (`?output=json`, the default, or `text`), narrowed by
 * `?tenant=` and `?room=` (repeatable) like `--tenant` and `--room`. Two headers carry what
 * `plan` reports besides: the verdict its exit code follows, and the tenants that failed.
 */

const verdictHeader = "x-reconciler-plan"
const failuresHeader = "x-reconciler-failed-tenants"

const text = (body: string, status: number) => HttpServerResponse.text(`${body}\n`, { status })

/** Tenants asked about that this replica does not lead: named as failed, never left out silently. */
const notLedHere = (tenants: ReadonlyArray<string>): ReadonlyArray<TenantFailure> =>
  tenants.map((tenant) => ({
    tenant,
    message: "not led by this replica (another replica leads it: ask that one, its /readyz lists its tenants)",
  }))

/** The plans of several tenants' controllers as one, as a single pass over them would give. */
const combine = (
  scope: Scope,
  results: ReadonlyArray<PlanResult>,
  notLed: ReadonlyArray<TenantFailure>,
): PlanResult => ({
  scope,
  plan: { rooms: results.flatMap((r) => r.plan.rooms).sort(compareRoomPlans) },
  failedTenants: [...results.flatMap((r) => r.failedTenants), ...notLed],
  pendingHandles: new Map(results.flatMap((r) => [...r.pendingHandles])),
  completeTenants: results.flatMap((r) => r.completeTenants),
  unrecorded: results.flatMap((r) => r.unrecorded),
  details: new Map(results.flatMap((r) => [...r.details])),
  emptyTenants: new Set(results.flatMap((r) => [...r.emptyTenants])),
  reserved: new Map(results.flatMap((r) => [...r.reserved])),
})

/**
 * The `/plan` route of the daemon's HTTP server. Each tenant's plan comes from its own
 * controller, so this replica answers for the tenants it leads (all in a dry run); those
 * asked about that it does not lead are listed as failed tenants (the plan is incomplete,
 * verdict `error`). Leading none of them: 503.
 */
export const planEndpoint = (settings: Settings, health: HealthService) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const query = new URL(request.url, "http://ops").searchParams
    const output = query.get("output") ?? "json"
    if (output !== "json" && output !== "text") return text(`output must be json or text, not ${output}`, 400)
    const scope = yield* resolveScope(settings, query.getAll("tenant"), query.getAll("room")).pipe(Effect.either)
    if (Either.isLeft(scope)) return text(scope.left.message, 400)
    const controllers = yield* Ref.get(health.controllers)
    const { rooms } = scope.right
    // Rooms asked: only their tenants are asked about.
    const asked =
      rooms.length === 0
        ? scope.right.tenants
        : scope.right.tenants.filter((r) => rooms.some((k) => k.tenant === r.tenant.id))
    const led = asked.filter((r) => controllers.has(r.tenant.id))
    const notLed = asked.filter((r) => !controllers.has(r.tenant.id)).map((r) => r.tenant.id)
    if (led.length === 0) {
      return text(
        `this replica leads none of the tenants asked (${notLed.join(", ")}): ask the replica leading them (its /readyz lists its tenants)`,
        503,
      )
    }
    const results = yield* Effect.forEach(
      led,
      (runtime) => {
        const controller = controllers.get(runtime.tenant.id)
        if (controller === undefined) return Effect.succeed([])
        const mine = rooms.filter((key) => key.tenant === runtime.tenant.id)
        return Effect.map(controller.plan({ tenants: [runtime], rooms: mine }), (result) => [result])
      },
      { concurrency: 1 },
    ).pipe(
      Effect.map((all) => all.flat()),
      Effect.either,
    )
    if (Either.isLeft(results)) return text(`the reconciler's schema: ${results.left.message}`, 500)
    const result = combine(scope.right, results.right, notLedHere(notLed))
    const failures = result.failedTenants
    return HttpServerResponse.text(`${planOutput(result, output)}\n`, {
      contentType: output === "json" ? "application/json" : "text/plain",
      headers: {
        [verdictHeader]: verdictOf(result),
        ...(failures.length === 0 ? {} : { [failuresHeader]: encodeURIComponent(JSON.stringify(failures)) }),
      },
    })
  })

/** The daemon could not be asked, or refused. */
export class DaemonPlanError extends Data.TaggedError("DaemonPlanError")<{ readonly message: string }> {}

const Failures = Schema.parseJson(Schema.Array(Schema.Struct({ tenant: Schema.String, message: Schema.String })))
const Verdict = Schema.Literal("error", "pending", "in_sync")

/** What `plan --daemon URL` prints, on stdout and stderr, and the verdict its exit code follows. */
export interface DaemonPlan {
  readonly stdout: string
  readonly stderr: ReadonlyArray<string>
  readonly verdict: PlanVerdict
}

/** Asks a running daemon for its plan (`GET URL/plan`). */
export const daemonPlan = (
  base: string,
  args: { readonly tenant: ReadonlyArray<string>; readonly room: ReadonlyArray<string>; readonly output: string },
): Effect.Effect<DaemonPlan, DaemonPlanError> =>
  Effect.gen(function* () {
    for (const key of args.room) {
      const parsed = parseRoomKey(key)
      if (Either.isLeft(parsed)) return yield* new DaemonPlanError({ message: `--room: ${parsed.left}` })
    }
    const url = yield* Effect.try({
      try: () => new URL("plan", base.endsWith("/") ? base : `${base}/`),
      catch: () => new DaemonPlanError({ message: `--daemon ${JSON.stringify(base)}: not a URL` }),
    })
    for (const tenant of args.tenant) url.searchParams.append("tenant", tenant)
    for (const room of args.room) url.searchParams.append("room", room)
    url.searchParams.set("output", args.output)
    const response = yield* Effect.tryPromise({
      try: async (signal) => {
        const answer = await fetch(url, { signal })
        return { status: answer.status, headers: answer.headers, body: await answer.text() }
      },
      catch: (error) => new DaemonPlanError({ message: `--daemon ${url.origin}: ${String(error)}` }),
    })
    if (response.status !== 200) {
      return yield* new DaemonPlanError({
        message: `--daemon ${url.origin}: ${response.status}: ${response.body.trim()}`,
      })
    }
    const verdict = Schema.decodeUnknownOption(Verdict)(response.headers.get(verdictHeader))
    if (Option.isNone(verdict)) {
      return yield* new DaemonPlanError({
        message: `--daemon ${url.origin}: the answer has no ${verdictHeader} header`,
      })
    }
    const failures = Option.getOrElse(
      Schema.decodeUnknownOption(Failures)(decodeURIComponent(response.headers.get(failuresHeader) ?? "[]")),
      () => [{ tenant: "?", message: `the daemon's ${failuresHeader} header is unreadable` }],
    )
    return {
      stdout: response.body.replace(/\n$/, ""),
      stderr: failures.map(tenantFailureLine),
      verdict: verdict.value,
    }
  })
