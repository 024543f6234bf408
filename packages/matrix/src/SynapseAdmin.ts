import type { ActualRoom } from "@openmeet-reconciler/core"
import { isRecord } from "@openmeet-reconciler/core"
import { Effect, Either, Redacted } from "effect"
import { LogService, MatrixClient } from "matrix-bot-sdk"
import { toMatrixError } from "./Matrix.ts"
import type { MatrixRequestError } from "./MatrixError.ts"
import { UnexpectedResponse } from "./MatrixError.ts"
import { decodeRoomState } from "./RoomState.ts"

/**
 * Synapse's admin API, with a server admin's access token: what `reconciler adopt` needs to
 * see a room the bot is not in and to make the bot its admin. The token is used for these
 * requests only, never stored or logged.
 */
export interface SynapseAdmin {
  /** A room's state, readable without being in the room (`GET /_synapse/admin/v1/rooms/{roomId}/state`). */
  readonly roomState: (roomId: string) => Effect.Effect<ActualRoom, MatrixRequestError>
  /**
   * `POST /_synapse/admin/v1/rooms/{roomId}/make_room_admin`: the room's most powerful joined
   * member of this server gives `userId` their level, and invites them into a room that is
   * not public.
   */
  readonly makeRoomAdmin: (roomId: string, userId: string) => Effect.Effect<void, MatrixRequestError>
}

export const makeSynapseAdmin = (homeserverUrl: string, accessToken: Redacted.Redacted<string>): SynapseAdmin => {
  // matrix-bot-sdk logs every failed request to the console; errors reach us as values.
  LogService.muteModule("MatrixHttpClient")
  LogService.muteModule("MatrixClientLite")
  const client = new MatrixClient(homeserverUrl, Redacted.value(accessToken))
  const request = (method: "GET" | "POST", endpoint: string, path: string, body?: unknown) =>
    Effect.tryPromise({
      try: () => client.doRequest(method, path, null, body ?? null),
      catch: (error) => toMatrixError(`${method} ${endpoint}`, error),
    })
  const room = (roomId: string) => `/_synapse/admin/v1/rooms/${encodeURIComponent(roomId)}`
  return {
    roomState: (roomId) =>
      request("GET", "/_synapse/admin/v1/rooms/{roomId}/state", `${room(roomId)}/state`).pipe(
        Effect.flatMap((body) =>
          Either.match(decodeRoomState(roomId, isRecord(body) ? body.state : undefined), {
            onLeft: (message) =>
              Effect.fail(new UnexpectedResponse({ endpoint: "GET /_synapse/admin/v1/rooms/{roomId}/state", message })),
            onRight: Effect.succeed,
          }),
        ),
      ),
    makeRoomAdmin: (roomId, userId) =>
      request("POST", "/_synapse/admin/v1/rooms/{roomId}/make_room_admin", `${room(roomId)}/make_room_admin`, {
        user_id: userId,
      }).pipe(Effect.asVoid),
  }
}
