import { serverOf } from "@openmeet-reconciler/core"
import { Context, Effect, Layer, Redacted } from "effect"
import type { MatrixConfig, MatrixService } from "./Matrix.ts"
import { makeMatrix } from "./Matrix.ts"
import type { MatrixRequestError } from "./MatrixError.ts"
import { NoHomeserver } from "./MatrixError.ts"
import type { StateCache } from "./StateCache.ts"

/** Where one tenant's rooms live: its homeserver and the appservice token for it. */
export interface HomeserverTarget {
  readonly homeserverUrl: string
  readonly asToken: Redacted.Redacted<string>
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
     * The homeserver of a server name: the configured one when it serves that name
     * (MATRIX_HOMESERVER_URL), else the tenant's own (`own`), else NoHomeserver.
     */
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
        const connect = (target: HomeserverTarget): Effect.Effect<MatrixService, MatrixRequestError> =>
          lock
            .withPermits(1)(
              Effect.gen(function* () {
                const key = `${target.homeserverUrl}\u0000${Redacted.value(target.asToken)}`
                const existing = connected.get(key)
                if (existing !== undefined) return existing
                // Cached on success only: a homeserver that was down is asked again next time.
                const once = yield* Effect.cachedInvalidateWithTTL(
                  makeMatrix({ ...options, ...target }).pipe(
                    Effect.map((matrix) => (cache === undefined ? matrix : cache.wrap(matrix))),
                  ),
                  "1000 days",
                )
                const attempt = once[0].pipe(Effect.tapError(() => once[1]))
                connected.set(key, attempt)
                return attempt
              }),
            )
            .pipe(Effect.flatten)
        return Homeservers.of({
          connect,
          forServer: (serverName, own) =>
            Effect.gen(function* () {
              const primary = yield* connect(main)
              const mainServerName = serverOf(primary.botUserId)
              if (mainServerName === serverName) return primary
              if (own === undefined) return yield* new NoHomeserver({ serverName, mainServerName })
              return yield* connect(own)
            }),
        })
      }),
    )
}
