import { timingSafeEqual } from "node:crypto"
import { Readable } from "node:stream"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { TelemetryService } from "@openmeet-reconciler/core"
import { describeWithoutValuesInline, Telemetry } from "@openmeet-reconciler/core"
import { Deferred, Effect, Either, Option, Redacted, Schema } from "effect"

/** One event of an appservice transaction, as far as the reconciler reads it. */
export const RoomEvent = Schema.Struct({
  type: Schema.String,
  room_id: Schema.String,
  sender: Schema.optional(Schema.String),
  state_key: Schema.optional(Schema.String),
  content: Schema.optional(Schema.Unknown),
})
export type RoomEvent = typeof RoomEvent.Type

const Transaction = Schema.Struct({ events: Schema.Array(Schema.Unknown) })
const decodeTransaction = Schema.decodeUnknownEither(Transaction)
const decodeEvent = Schema.decodeUnknownEither(RoomEvent)

/**
 * What the reconciler does with what a homeserver tells it. `origin` is the hs_token the
 * request carried: it tells which homeserver sent it.
 */
export interface AppServiceHandlers {
  /**
   * The well-formed events of a new transaction (never called twice for one transaction id
   * that was accepted). False: not accepted now (a standby that cannot hand it on); the homeserver gets 503
   * and sends the transaction again later.
   */
  readonly onEvents: (events: ReadonlyArray<RoomEvent>, origin: Redacted.Redacted<string>) => Effect.Effect<boolean>
  /** An alias in the appservice's namespace was asked for: true when a room has it now. */
  readonly onAliasQuery: (alias: string, origin: Redacted.Redacted<string>) => Effect.Effect<boolean>
}

/**
 * The largest transaction body read: a homeserver sends at most 100 events of at most
 * 64 KiB each (Synapse), so 8 MiB leaves room and stops a body meant to exhaust memory.
 */
export const maxTransactionBytes = 8 * 1024 * 1024

export interface AppServiceOptions {
  /** The hs_token of each homeserver that may call: its registration's, one per homeserver. */
  readonly hsTokens: ReadonlyArray<Redacted.Redacted<string>>
  /** Transaction ids remembered for idempotence (the homeserver retries a transaction until it gets 200). */
  readonly rememberTransactions?: number
}

const matrixError = (status: number, errcode: string, error: string) =>
  HttpServerResponse.unsafeJson({ errcode, error }, { status })

/** A body over the limit is answered 413; what the client still sends is discarded, never kept. */
const tooLarge = (size: string) =>
  matrixError(
    413,
    "M_TOO_LARGE",
    `the transaction body (${size}) is over the ${maxTransactionBytes} bytes a homeserver sends`,
  )

type Body = { readonly _tag: "Read"; readonly text: string } | { readonly _tag: "TooLarge" }

/**
 * The request body, read up to `maxTransactionBytes`. From Node's server the rest of a larger
 * one (a chunked body declares no length) is discarded as it comes, so that it can be
 * answered: the platform's own limit destroys the socket, and the homeserver would get no
 * answer at all. The server's request timeout (30 s) bounds a body that never ends.
 */
const readBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Body, unknown> => {
  const source = request.source
  if (!(source instanceof Readable)) {
    return request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxTransactionBytes)),
      Effect.map((text): Body => ({ _tag: "Read", text })),
    )
  }
  return Effect.async<Body, Error>((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
      source.off("close", onClose)
    }
    const onData = (chunk: unknown) => {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
      bytes += buffer.length
      if (bytes <= maxTransactionBytes) {
        chunks.push(buffer)
        return
      }
      stop()
      // Flowing without a listener: the rest is read and dropped, and the answer goes out.
      source.resume()
      resume(Effect.succeed({ _tag: "TooLarge" }))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed({ _tag: "Read", text: Buffer.concat(chunks).toString("utf8") }))
    }
    const onError = (error: Error) => {
      stop()
      resume(Effect.fail(error))
    }
    // A client gone before the end of its body: nothing more will come.
    const onClose = () => onError(new Error("the connection closed before the body ended"))
    source.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose)
    return Effect.sync(stop)
  })
}

const parseJson = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(text === "" ? null : JSON.parse(text))
  } catch {
    return Either.left("not JSON")
  }
}

/** The homeserver's token from `Authorization: Bearer`, or the legacy `access_token` query parameter. */
const presentedToken = (request: HttpServerRequest.HttpServerRequest, url: URL): string | undefined => {
  const header = request.headers.authorization
  if (header?.startsWith("Bearer ") === true) return header.slice("Bearer ".length)
  return url.searchParams.get("access_token") ?? undefined
}

/** The homeserver a request came from: the hs_token it carried (and its place in the list). */
interface Origin {
  readonly index: number
  readonly token: Redacted.Redacted<string>
}

const sameToken = (presented: string, expected: string): boolean => {
  const a = Buffer.from(presented)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The appservice API the homeserver calls (Matrix application service API v1):
 * transactions (`PUT /_matrix/app/v1/transactions/{txnId}`), alias queries
 * (`GET /_matrix/app/v1/rooms/{alias}`), user queries (always 404: the reconciler
 * makes no users on demand) and ping. Every request must carry the hs_token of one of the
 * homeservers: none → 401, any other → 403. A transaction id seen before (from the same
 * homeserver) is answered 200 without handling it again.
 */
export const appServiceApp = (
  options: AppServiceOptions,
  handlers: AppServiceHandlers,
): HttpApp.Default<never, HttpServerRequest.HttpServerRequest> => {
  const limit = options.rememberTransactions ?? 10_000
  const seen = new Set<string>()
  /** Transactions being handled, by id: a duplicate arriving meanwhile waits for the first. */
  const inFlight = new Map<string, Deferred.Deferred<void>>()
  const remember = (txnId: string) => {
    seen.add(txnId)
    // A Set iterates in insertion order: the oldest id goes first.
    if (seen.size > limit)
      for (const old of seen) {
        seen.delete(old)
        break
      }
  }

  const transaction = (
    request: HttpServerRequest.HttpServerRequest,
    txnId: string,
    origin: Origin,
    telemetry: TelemetryService,
  ) =>
    Effect.gen(function* () {
      // Transaction ids are per homeserver: two homeservers may both send "1".
      const seenId = `${origin.index}:${txnId}`
      // The same id sent again while it is handled waits for that outcome: taken once.
      for (let running = inFlight.get(seenId); running !== undefined; running = inFlight.get(seenId)) {
        yield* Deferred.await(running)
      }
      if (seen.has(seenId)) return HttpServerResponse.unsafeJson({})
      const handled = yield* Deferred.make<void>()
      inFlight.set(seenId, handled)
      return yield* handleTransaction(request, txnId, seenId, origin, telemetry).pipe(
        Effect.ensuring(
          Effect.suspend(() => {
            inFlight.delete(seenId)
            return Deferred.succeed(handled, undefined)
          }),
        ),
      )
    }).pipe(Effect.withSpan("appservice.transaction", { attributes: { "appservice.txn_id": txnId } }))

  const handleTransaction = (
    request: HttpServerRequest.HttpServerRequest,
    txnId: string,
    seenId: string,
    origin: Origin,
    telemetry: TelemetryService,
  ) =>
    Effect.gen(function* () {
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxTransactionBytes) {
        telemetry.dropped("appservice_request")
        return tooLarge(`${declared} bytes`)
      }
      const read = yield* readBody(request).pipe(Effect.either)
      if (Either.isRight(read) && read.right._tag === "TooLarge") {
        telemetry.dropped("appservice_request")
        return tooLarge(`more than ${maxTransactionBytes} bytes, chunked`)
      }
      const body = Either.flatMap(read, (r) => (r._tag === "Read" ? parseJson(r.text) : Either.left("too large")))
      if (Either.isLeft(body)) {
        return matrixError(
          400,
          "M_NOT_JSON",
          `the transaction body is not JSON of at most ${maxTransactionBytes} bytes`,
        )
      }
      const decoded = decodeTransaction(body.right)
      if (Either.isLeft(decoded)) {
        return matrixError(400, "M_BAD_JSON", describeWithoutValuesInline(decoded.left))
      }
      const events: Array<RoomEvent> = []
      for (const [index, raw] of decoded.right.events.entries()) {
        const event = decodeEvent(raw)
        if (Either.isRight(event)) events.push(event.right)
        else {
          telemetry.dropped("transaction_event")
          // One event the reconciler cannot read must not make the homeserver resend the others forever.
          yield* Effect.logWarning(
            `appservice transaction ${txnId}: event ${index} ignored: ${describeWithoutValuesInline(event.left)}`,
          )
        }
      }
      yield* Effect.annotateCurrentSpan({ "appservice.events": events.length })
      if (!(yield* handlers.onEvents(events, origin.token))) {
        return matrixError(503, "M_UNAVAILABLE", "this replica cannot take the transaction now; send it again")
      }
      remember(seenId)
      return HttpServerResponse.unsafeJson({})
    })

  const aliasQuery = (alias: string, origin: Origin) =>
    handlers.onAliasQuery(alias, origin.token).pipe(
      Effect.map((exists) =>
        exists ? HttpServerResponse.unsafeJson({}) : matrixError(404, "M_NOT_FOUND", "no such room"),
      ),
      Effect.withSpan("appservice.alias_query"),
    )

  return Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://appservice")
    const telemetry = yield* Telemetry
    const token = presentedToken(request, url)
    const index = token === undefined ? -1 : options.hsTokens.findIndex((t) => sameToken(token, Redacted.value(t)))
    const known = options.hsTokens[index]
    if (token === undefined || known === undefined) {
      telemetry.dropped("appservice_request")
      // Debug, not warning: anyone who can reach the port could flood the log; the metric counts.
      yield* Effect.logDebug(
        `appservice: ${request.method} ${url.pathname} refused: ${token === undefined ? "no" : "a wrong"} hs_token`,
      )
      return token === undefined
        ? matrixError(401, "M_UNAUTHORIZED", "no hs_token in the request")
        : matrixError(403, "M_FORBIDDEN", "wrong hs_token")
    }
    // Legacy (unprefixed) paths are the same API without `/_matrix/app/v1`.
    const path = url.pathname.startsWith("/_matrix/app/v1/")
      ? url.pathname.slice("/_matrix/app/v1".length)
      : url.pathname
    const segments = path.split("/").slice(1)
    let decoded: Array<string>
    try {
      decoded = segments.map((segment) => decodeURIComponent(segment))
    } catch {
      return matrixError(400, "M_INVALID_PARAM", "the path is not valid percent-encoding")
    }
    const [resource, id, ...rest] = decoded
    const origin: Origin = { index, token: known }
    if (rest.length === 0 && id !== undefined && id !== "") {
      if (resource === "transactions" && request.method === "PUT") {
        return yield* transaction(request, id, origin, telemetry)
      }
      if (resource === "rooms" && request.method === "GET") return yield* aliasQuery(id, origin)
      if (resource === "users" && request.method === "GET") return matrixError(404, "M_NOT_FOUND", "no such user")
    }
    if (resource === "ping" && id === undefined && request.method === "POST") return HttpServerResponse.unsafeJson({})
    return matrixError(404, "M_UNRECOGNIZED", "unrecognized request")
  })
}
