import type { ActualRoom, JoinRule } from "@openmeet-reconciler/core"
import { isRecord, Telemetry } from "@openmeet-reconciler/core"
import { Context, Effect, Either, Layer, Redacted } from "effect"
import { LogService, MatrixClient } from "matrix-bot-sdk"
import type { MatrixRejected, MatrixRequestError } from "./MatrixError.ts"
import { AliasInUse, UnexpectedResponse } from "./MatrixError.ts"
import { abortSignals, installRequestFn, retryPolicy, statusOf, toMatrixError } from "./MatrixTransport.ts"
import { decodeRoomState } from "./RoomState.ts"

export { statusOf, toMatrixError } from "./MatrixTransport.ts"

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
