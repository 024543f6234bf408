import { Data } from "effect"

/** 429: wait `retryAfterMs`, then try again. */
export class RateLimited extends Data.TaggedError("RateLimited")<{
  readonly endpoint: string
  readonly retryAfterMs: number
}> {}

/** 403: the bot may not do this (power, membership, exclusivity). */
export class Forbidden extends Data.TaggedError("Forbidden")<{
  readonly endpoint: string
  readonly errcode: string
  readonly message: string
}> {}

/** 404: no such room, alias or event. */
export class NotFound extends Data.TaggedError("NotFound")<{
  readonly endpoint: string
  readonly errcode: string
  readonly message: string
}> {}

/** The alias asked for at room creation is taken (a crashed earlier run made the room). */
export class AliasInUse extends Data.TaggedError("AliasInUse")<{
  readonly alias: string
}> {}

/** 5xx, a timeout or a network error: the homeserver may come back; back off and retry. */
export class HomeserverUnavailable extends Data.TaggedError("HomeserverUnavailable")<{
  readonly endpoint: string
  readonly status: number | undefined
  readonly message: string
}> {}

/** Any other 4xx: retrying will not help; the room gets an error condition. */
export class MatrixRejected extends Data.TaggedError("MatrixRejected")<{
  readonly endpoint: string
  readonly status: number
  readonly errcode: string
  readonly message: string
}> {}

/** The homeserver answered with something that is not what the spec says. */
export class UnexpectedResponse extends Data.TaggedError("UnexpectedResponse")<{
  readonly endpoint: string
  readonly message: string
}> {}

/** A tenant on a server the configured homeserver is not, without a homeserver of its own. */
export class NoHomeserver extends Data.TaggedError("NoHomeserver")<{
  readonly serverName: string
  readonly mainServerName: string
}> {}

export type MatrixRequestError =
  | RateLimited
  | Forbidden
  | NotFound
  | HomeserverUnavailable
  | MatrixRejected
  | UnexpectedResponse

/** One line for an operator. */
export const describeMatrixError = (error: MatrixRequestError | AliasInUse | NoHomeserver): string => {
  switch (error._tag) {
    case "NoHomeserver":
      return `no homeserver for server name ${error.serverName}: MATRIX_HOMESERVER_URL serves ${error.mainServerName}; give the tenant matrixConfig.homeserverUrl and matrixConfig.appservice.token`
    case "RateLimited":
      return `${error.endpoint}: rate limited, retry after ${error.retryAfterMs} ms`
    case "AliasInUse":
      return `alias ${error.alias} is already taken`
    case "HomeserverUnavailable":
      return `${error.endpoint}: homeserver unavailable (${error.status ?? "no response"}): ${error.message}`
    case "UnexpectedResponse":
      return `${error.endpoint}: unexpected response: ${error.message}`
    default:
      return `${error.endpoint}: ${error.errcode} ${error.message}`
  }
}
