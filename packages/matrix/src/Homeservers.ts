import { serverOf } from "@openmeet-reconciler/core"
import { Context, Effect, Layer, Option, Redacted, Ref } from "effect"
import type { MatrixConfig, MatrixService } from "./Matrix.ts"
import { makeMatrix } from "./Matrix.ts"
import type { MatrixRequestError } from "./MatrixError.ts"
import { describeMatrixError, NoHomeserver } from "./MatrixError.ts"
import type { StateCache } from "./StateCache.ts"

/** Where one tenant's rooms live: its homeserver and the appservice registration there. */
export interface HomeserverTarget {
  readonly homeserverUrl: string
  readonly asToken: Redacted.Redacted<string>
  /** The registration's id there: the homeserver is asked to ping the appservice by it. */
  readonly appserviceId?: string
  /** The token that homeserver presents to the appservice API (transactions, alias queries). */
  readonly hsToken?: Redacted.Redacted<string>
}

/** How long a MATRIX_HOMESERVER_URL that never answered is not asked again just to tell its server name. */
const mainProbeBackoffMs = 30_000

const sameUrl = (a: string, b: string): boolean => {
  try {
    return new URL(a).href === new URL(b).href
  } catch {
    return a === b
  }
}

/**
 * The homeservers of all tenants. Each is connected on first use and kept: one tenant's
 * homeserver being down fails that tenant's rooms, not the others'.
 */
export class Homeservers extends Context.Tag("@openmeet-reconciler/matrix/Homeservers")<
  Homeservers,
  {
    readonly connect: (target: HomeserverTarget) => Effect.Effect<MatrixService, MatrixRequestError>
    /**
     * Which homeserver serves a server name: the configured one (MATRIX_HOMESERVER_URL)
     * when it serves that name, else the tenant's own (`own`), else NoHomeserver. A tenant
     * with its own homeserver never waits for the configured one: when that one has not
     * answered since start, the tenant's own is taken.
     */
    readonly targetFor: (
      serverName: string,
      own: HomeserverTarget | undefined,
    ) => Effect.Effect<HomeserverTarget, MatrixRequestError | NoHomeserver>
    /** The homeserver of a server name (`targetFor`), connected. */
    readonly forServer: (
      serverName: string,
      own: HomeserverTarget | undefined,
    ) => Effect.Effect<MatrixService, MatrixRequestError | NoHomeserver>
  }
>() {
  /** With `cache`, every homeserver's reads go through the state cache (the daemon). */
  static readonly layer = (
    main: HomeserverTarget,
    options: Omit<MatrixConfig, "homeserverUrl" | "asToken"> = {},
    cache?: StateCache,
  ) =>
    Layer.effect(
      Homeservers,
      Effect.gen(function* () {
        const connected = new Map<string, Effect.Effect<MatrixService, MatrixRequestError>>()
        // Serialises first connections, so one homeserver is never connected twice at once.
        const lock = yield* Effect.makeSemaphore(1)
        // The configured homeserver's server name never changes: once learned, it is kept.
        const mainServerName = yield* Ref.make(Option.none<string>())
        const mainFailedAt = yield* Ref.make(Number.NEGATIVE_INFINITY)
        const connect = (target: HomeserverTarget): Effect.Effect<MatrixService, MatrixRequestError> =>
          lock
            .withPermits(1)(
              Effect.gen(function* () {
                const key = `${target.homeserverUrl}\u0000${Redacted.value(target.asToken)}`
                const existing = connected.get(key)
                if (existing !== undefined) return existing
                // Cached on success only: a homeserver that was down is asked again next time.
                const once = yield* Effect.cachedInvalidateWithTTL(
                  makeMatrix({
                    ...options,
                    homeserverUrl: target.homeserverUrl,
                    asToken: target.asToken,
                    ...(target.appserviceId === undefined ? {} : { appserviceId: target.appserviceId }),
                  }).pipe(Effect.map((matrix) => (cache === undefined ? matrix : cache.wrap(matrix)))),
                  "1000 days",
                )
                const attempt = once[0].pipe(Effect.tapError(() => once[1]))
                connected.set(key, attempt)
                return attempt
              }),
            )
            .pipe(Effect.flatten)

        const connectMain = connect(main).pipe(
          Effect.tap((primary) => Ref.set(mainServerName, Option.some(serverOf(primary.botUserId)))),
          Effect.tapError(() => Ref.set(mainFailedAt, Date.now())),
        )

        const targetFor = (serverName: string, own: HomeserverTarget | undefined) =>
          Effect.gen(function* () {
            if (own === undefined || sameUrl(own.homeserverUrl, main.homeserverUrl)) {
              const name = serverOf((yield* connectMain).botUserId)
              if (name === serverName) return main
              if (own === undefined) return yield* new NoHomeserver({ serverName, mainServerName: name })
              return own
            }
            const known = yield* Ref.get(mainServerName)
            if (Option.isSome(known)) return known.value === serverName ? main : own
            if (Date.now() - (yield* Ref.get(mainFailedAt)) < mainProbeBackoffMs) return own
            const probe = yield* Effect.either(connectMain)
            if (probe._tag === "Right") return serverOf(probe.right.botUserId) === serverName ? main : own
            yield* Effect.logWarning(
              `MATRIX_HOMESERVER_URL does not answer (${describeMatrixError(probe.left)}); tenants on ${serverName} use their own matrixConfig.homeserverUrl`,
            )
            return own
          })

        return Homeservers.of({
          connect,
          targetFor,
          forServer: (serverName, own) => Effect.flatMap(targetFor(serverName, own), connect),
        })
      }),
    )
}
