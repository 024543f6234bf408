import { AsyncLocalStorage } from "node:async_hooks"
import type { ActualRoom, JoinRule } from "@openmeet-reconciler/core"
import { isRecord, Telemetry } from "@openmeet-reconciler/core"
import { Context, Duration, Effect, Either, Layer, Redacted, Schedule } from "effect"
import { getRequestFn, LogService, MatrixClient, MatrixError, setRequestFn } from "matrix-bot-sdk"
import type { MatrixRequestError } from "./MatrixError.ts"
import {
  AliasInUse,
  Forbidden,
  HomeserverUnavailable,
  MatrixRejected,
  NotFound,
  RateLimited,
  UnexpectedResponse,
} from "./MatrixError.ts"
import { decodeRoomState } from "./RoomState.ts"

/** Everything one room-creation request sets, so a new room is right from its first event. */
export interface CreateRoomRequest {
  readonly alias: string
  readonly name: string
  readonly joinRule: JoinRule
  readonly historyVisibility: string
  readonly guestAccess: string
  /** Levels for users other than the bot. */
  readonly users: Readonly<Record<string, number>>
  readonly invite: ReadonlyArray<string>
}

export interface MatrixConfig {
  readonly homeserverUrl: string
  readonly asToken: Redacted.Redacted<string>
  /** Attempts for a request that failed with 429 or 5xx/network errors. */
  readonly maxAttempts?: number
  /** The id of the appservice's registration on this homeserver (for `pingAppservice`). */
  readonly appserviceId?: string
}

/** The homeserver as the appservice bot sees it: reads and the writes the planner asks for. */
export class Matrix extends Context.Tag("@openmeet-reconciler/matrix/Matrix")<
  Matrix,
  {
    readonly botUserId: string
    /** The id of the appservice's registration on this homeserver, when configured. */
    readonly appserviceId?: string
    /** The room version the homeserver gives new rooms (asked once). */
    readonly defaultRoomVersion: Effect.Effect<string, MatrixRequestError>
    readonly joinedRooms: Effect.Effect<ReadonlySet<string>, MatrixRequestError>
    /** The room an alias points at, or undefined when the alias is free. */
    readonly resolveAlias: (alias: string) => Effect.Effect<string | undefined, MatrixRequestError>
    readonly readRoom: (roomId: string) => Effect.Effect<ActualRoom, MatrixRequestError>
    readonly createRoom: (request: CreateRoomRequest) => Effect.Effect<string, MatrixRequestError | AliasInUse>
    readonly sendState: (
      roomId: string,
      eventType: string,
      content: Readonly<Record<string, unknown>>,
    ) => Effect.Effect<void, MatrixRequestError>
    /** Points an alias at the room (`PUT /directory/room/{alias}`). */
    readonly addAlias: (roomId: string, alias: string) => Effect.Effect<void, MatrixRequestError>
    /** Removes an alias from the directory (`DELETE /directory/room/{alias}`); one already gone is no error. */
    readonly removeAlias: (alias: string) => Effect.Effect<void, MatrixRequestError>
    readonly invite: (roomId: string, userId: string, reason: string) => Effect.Effect<void, MatrixRequestError>
    /** Joins `userId` (a user in the appservice's namespace) to the room, as that user. */
    readonly joinAs: (roomId: string, userId: string) => Effect.Effect<void, MatrixRequestError>
    readonly kick: (roomId: string, userId: string, reason: string) => Effect.Effect<void, MatrixRequestError>
    /**
     * Asks the homeserver to ping the appservice (MSC2659). Also makes a homeserver that had
     * given up on the appservice (it was down) send its queued transactions now.
     */
    readonly pingAppservice: (appserviceId: string) => Effect.Effect<void, MatrixRequestError>
  }
>() {
  static readonly layer = (config: MatrixConfig) => Layer.effect(Matrix, makeMatrix(config))
}

/** Maps what matrix-bot-sdk throws to our tagged errors. */
export const toMatrixError = (endpoint: string, error: unknown): MatrixRequestError => {
  if (error instanceof MatrixError) {
    const { statusCode: status, errcode } = error
    const message = error.error ?? ""
    if (status === 429 || errcode === "M_LIMIT_EXCEEDED") {
      return new RateLimited({ endpoint, retryAfterMs: error.retryAfterMs ?? 1000 })
    }
    if (status === 403) return new Forbidden({ endpoint, errcode, message })
    if (status === 404) return new NotFound({ endpoint, errcode, message })
    if (status >= 500) return new HomeserverUnavailable({ endpoint, status, message: `${errcode} ${message}` })
    return new MatrixRejected({ endpoint, status, errcode, message })
  }
  // matrix-bot-sdk throws the raw response for a non-2xx answer without a Matrix error body.
  if (isRecord(error) && typeof error.statusCode === "number") {
    const status = error.statusCode
    const message = `HTTP ${status}`
    if (status === 429) return new RateLimited({ endpoint, retryAfterMs: 1000 })
    if (status >= 500) return new HomeserverUnavailable({ endpoint, status, message })
    return new MatrixRejected({ endpoint, status, errcode: "", message })
  }
  return new HomeserverUnavailable({
    endpoint,
    status: undefined,
    message: error instanceof Error ? error.message : String(error),
  })
}

/** The HTTP status an error came with, as a metric label (`error`: no answer at all). */
export const statusOf = (error: MatrixRequestError): string => {
  switch (error._tag) {
    case "RateLimited":
      return "429"
    case "Forbidden":
      return "403"
    case "NotFound":
      return "404"
    case "HomeserverUnavailable":
      return error.status === undefined ? "error" : String(error.status)
    case "MatrixRejected":
      return String(error.status)
    case "UnexpectedResponse":
      return "200"
  }
}

/** The abort signal of the request being made (an interrupted request is aborted, not left to land). */
const abortSignals = new AsyncLocalStorage<AbortSignal>()

const isAbortable = (value: unknown): value is { readonly abort: () => void } =>
  isRecord(value) && typeof value.abort === "function"

let requestFnInstalled = false
/**
 * matrix-bot-sdk's request function is wrapped once, for two things it lacks. A request
 * whose effect is interrupted (the leader lost its lock, a shutdown) is aborted, so no
 * write lands after the reconciler stopped applying. And matrix-bot-sdk only reads
 * `retry_after_ms` from a 429's body; newer homeservers may send only the `Retry-After`
 * header (seconds): its value reaches the error as `retry_after_ms`.
 */
const installRequestFn = (): void => {
  if (requestFnInstalled) return
  requestFnInstalled = true
  const original = getRequestFn()
  setRequestFn((params: unknown, callback: (error: unknown, response: unknown, body: unknown) => void) => {
    const signal = abortSignals.getStore()
    const pending: unknown = original(params, (error: unknown, response: unknown, body: unknown) => {
      if (isRecord(response) && response.statusCode === 429 && isRecord(response.headers)) {
        const header = response.headers["retry-after"]
        const seconds = typeof header === "string" ? Number.parseFloat(header) : Number.NaN
        if (Number.isFinite(seconds) && seconds >= 0) {
          const parsed: unknown = typeof response.body === "string" ? safeJson(response.body) : response.body
          if (isRecord(parsed) && typeof parsed.retry_after_ms !== "number") {
            Object.assign(response, { body: { ...parsed, retry_after_ms: Math.round(seconds * 1000) } })
          }
        }
      }
      callback(error, response, body)
    })
    if (signal !== undefined && isAbortable(pending)) {
      if (signal.aborted) pending.abort()
      else signal.addEventListener("abort", () => pending.abort(), { once: true })
    }
    return pending
  })
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isRetryable = (error: MatrixRequestError): boolean =>
  error._tag === "RateLimited" || error._tag === "HomeserverUnavailable"

/** 429: the server's own delay; 5xx and network errors: exponential backoff with jitter. */
const retryPolicy = (maxAttempts: number) =>
  Schedule.identity<MatrixRequestError>().pipe(
    Schedule.addDelay((error) => (error._tag === "RateLimited" ? Duration.millis(error.retryAfterMs) : Duration.zero)),
    Schedule.intersect(Schedule.jittered(Schedule.exponential("200 millis", 2))),
    Schedule.whileInput(isRetryable),
    Schedule.intersect(Schedule.recurs(maxAttempts - 1)),
  )

/** The Matrix service's operations, as one value (one per homeserver). */
export type MatrixService = Context.Tag.Service<Matrix>

/** Connects to one homeserver as the appservice bot (asks whoami, which also checks the token). */
export const makeMatrix = (config: MatrixConfig): Effect.Effect<MatrixService, MatrixRequestError> =>
  Effect.gen(function* () {
    // matrix-bot-sdk logs every failed request to the console; errors reach us as values.
    LogService.muteModule("MatrixHttpClient")
    LogService.muteModule("MatrixClientLite")
    installRequestFn()
    const client = new MatrixClient(config.homeserverUrl, Redacted.value(config.asToken))
    const schedule = retryPolicy(config.maxAttempts ?? 5)

    /** One Matrix request; `template` names the endpoint without ids (metrics, spans). */
    const request = (
      method: "GET" | "POST" | "PUT" | "DELETE",
      template: string,
      path: string,
      options: { readonly qs?: Record<string, string>; readonly body?: unknown; readonly once?: boolean } = {},
    ): Effect.Effect<unknown, MatrixRequestError> => {
      const endpoint = `${method} ${template}`
      const attempt = Effect.flatMap(Telemetry, (telemetry) => {
        const started = performance.now()
        const seconds = () => (performance.now() - started) / 1000
        return Effect.tryPromise({
          try: (signal) =>
            abortSignals.run(signal, () => client.doRequest(method, path, options.qs ?? null, options.body ?? null)),
          catch: (error) => toMatrixError(endpoint, error),
        }).pipe(
          Effect.tapBoth({
            onSuccess: () =>
              Effect.sync(() => telemetry.matrixRequest(endpoint, "200", seconds())).pipe(
                Effect.zipRight(Effect.annotateCurrentSpan("http.status_code", 200)),
              ),
            onFailure: (error) =>
              Effect.sync(() => telemetry.matrixRequest(endpoint, statusOf(error), seconds())).pipe(
                Effect.zipRight(Effect.annotateCurrentSpan("http.status_code", statusOf(error))),
              ),
          }),
        )
      })
      return attempt.pipe(
        options.once === true ? (effect) => effect : Effect.retry(schedule),
        Effect.withSpan("matrix.request", { attributes: { "http.method": method, "matrix.endpoint": template } }),
      )
    }
    const room = (roomId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`

    // whoami checks the token and tells the bot's id (and so the homeserver's name).
    const whoami = yield* request("GET", "/account/whoami", "/_matrix/client/v3/account/whoami")
    if (!isRecord(whoami) || typeof whoami.user_id !== "string") {
      return yield* new UnexpectedResponse({ endpoint: "GET /account/whoami", message: "no user_id in the answer" })
    }
    const botUserId = whoami.user_id

    const versions = yield* Effect.cached(
      request("GET", "/capabilities", "/_matrix/client/v3/capabilities").pipe(
        Effect.map((body) => {
          const capabilities = isRecord(body) && isRecord(body.capabilities) ? body.capabilities : {}
          const roomVersions = capabilities["m.room_versions"]
          return isRecord(roomVersions) && typeof roomVersions.default === "string" ? roomVersions.default : "1"
        }),
      ),
    )

    const resolveAlias = (alias: string) =>
      request("GET", "/directory/room/{alias}", `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`).pipe(
        Effect.map((body) => (isRecord(body) && typeof body.room_id === "string" ? body.room_id : undefined)),
        Effect.catchTag("NotFound", () => Effect.succeed(undefined)),
      )

    return Matrix.of({
      botUserId,
      ...(config.appserviceId === undefined ? {} : { appserviceId: config.appserviceId }),
      defaultRoomVersion: versions,
      joinedRooms: request("GET", "/joined_rooms", "/_matrix/client/v3/joined_rooms").pipe(
        Effect.map((body) =>
          isRecord(body) && Array.isArray(body.joined_rooms)
            ? new Set(body.joined_rooms.filter((id): id is string => typeof id === "string"))
            : new Set<string>(),
        ),
      ),
      resolveAlias,
      readRoom: (roomId) =>
        request("GET", "/rooms/{roomId}/state", `${room(roomId)}/state`).pipe(
          Effect.flatMap((body) =>
            Either.match(decodeRoomState(roomId, body), {
              onLeft: (message) =>
                Effect.fail(new UnexpectedResponse({ endpoint: "GET /rooms/{roomId}/state", message })),
              onRight: Effect.succeed,
            }),
          ),
        ),
      createRoom: (spec) =>
        Effect.gen(function* () {
          const version = yield* versions
          const localpart = spec.alias.slice(1, spec.alias.lastIndexOf(":"))
          // Room version 12+: the creator's power is implicit and must not be in `users`.
          const botEntry = Number.parseInt(version, 10) >= 12 ? {} : { [botUserId]: 100 }
          const body = {
            room_alias_name: localpart,
            name: spec.name,
            visibility: "private",
            preset: spec.joinRule === "public" ? "public_chat" : "private_chat",
            initial_state: [
              { type: "m.room.join_rules", state_key: "", content: { join_rule: spec.joinRule } },
              {
                type: "m.room.history_visibility",
                state_key: "",
                content: { history_visibility: spec.historyVisibility },
              },
              { type: "m.room.guest_access", state_key: "", content: { guest_access: spec.guestAccess } },
            ],
            power_level_content_override: { users: { ...spec.users, ...botEntry } },
            invite: spec.invite,
          }
          const created = yield* request("POST", "/createRoom", "/_matrix/client/v3/createRoom", { body }).pipe(
            Effect.catchIf(
              (error): error is MatrixRejected => error._tag === "MatrixRejected" && error.errcode === "M_ROOM_IN_USE",
              () => Effect.fail(new AliasInUse({ alias: spec.alias })),
            ),
          )
          if (isRecord(created) && typeof created.room_id === "string") return created.room_id
          return yield* new UnexpectedResponse({ endpoint: "POST /createRoom", message: "no room_id in the answer" })
        }),
      sendState: (roomId, eventType, content) =>
        request(
          "PUT",
          `/rooms/{roomId}/state/${eventType}`,
          `${room(roomId)}/state/${encodeURIComponent(eventType)}/`,
          { body: content },
        ).pipe(Effect.asVoid),
      addAlias: (roomId, alias) =>
        request("PUT", "/directory/room/{alias}", `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`, {
          body: { room_id: roomId },
        }).pipe(Effect.asVoid),
      removeAlias: (alias) =>
        request(
          "DELETE",
          "/directory/room/{alias}",
          `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`,
        ).pipe(
          Effect.asVoid,
          Effect.catchTag("NotFound", () => Effect.void),
        ),
      invite: (roomId, userId, reason) =>
        request("POST", "/rooms/{roomId}/invite", `${room(roomId)}/invite`, {
          body: { user_id: userId, reason },
        }).pipe(Effect.asVoid),
      joinAs: (roomId, userId) =>
        request("POST", "/join/{roomId}", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {
          qs: { user_id: userId },
          body: {},
        }).pipe(Effect.asVoid),
      pingAppservice: (appserviceId) =>
        request(
          "POST",
          "/appservice/{appserviceId}/ping",
          `/_matrix/client/v1/appservice/${encodeURIComponent(appserviceId)}/ping`,
          // A 502 says the homeserver cannot reach us: asking again at once changes nothing.
          { body: {}, once: true },
        ).pipe(Effect.asVoid),
      kick: (roomId, userId, reason) =>
        request("POST", "/rooms/{roomId}/kick", `${room(roomId)}/kick`, { body: { user_id: userId, reason } }).pipe(
          Effect.asVoid,
        ),
    })
  })
