import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { parseRoomKey } from "@openmeet-reconciler/core"
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

/** The `/plan` route of the daemon's HTTP server. */
export const planEndpoint = (settings: Settings, health: HealthService) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const query = new URL(request.url, "http://ops").searchParams
    const output = query.get("output") ?? "json"
    if (output !== "json" && output !== "text") return text(`output must be json or text, not ${output}`, 400)
    const role = yield* Ref.get(health.role)
    const controller = yield* Ref.get(health.controller)
    if (role === "standby" || Option.isNone(controller)) {
      return text("this replica does not lead: ask the leader (its /readyz says role leader)", 503)
    }
    const scope = yield* resolveScope(settings, query.getAll("tenant"), query.getAll("room")).pipe(Effect.either)
    if (Either.isLeft(scope)) return text(scope.left.message, 400)
    const result = yield* controller.value.plan(scope.right).pipe(Effect.either)
    if (Either.isLeft(result)) return text(`the reconciler's schema: ${result.left.message}`, 500)
    const failures = result.right.failedTenants
    return HttpServerResponse.text(`${planOutput(result.right, output)}\n`, {
      contentType: output === "json" ? "application/json" : "text/plain",
      headers: {
        [verdictHeader]: verdictOf(result.right),
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
