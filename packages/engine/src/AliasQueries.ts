import { formatRoomKey, parseAlias } from "@openmeet-reconciler/core"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Context, Deferred, Effect, Layer, Redacted } from "effect"
import { ControllerConfig } from "./ControllerConfig.ts"
import type { TenantRuntime } from "./Pass.ts"
import { ownHomeserver } from "./Pass.ts"
import { WorkQueue } from "./WorkQueue.ts"

/**
 * Alias queries (`GET /_matrix/app/v1/rooms/{alias}`): OpenMeet's lazy room creation. A
 * query for an event's or group's alias queues its key as a change and waits for that
 * reconcile, which creates the room when the entity may have one.
 */
export interface AliasQueriesService {
  /**
   * True when a room has the alias once its key was reconciled (at most the configured
   * timeout). With `origin` (the hs_token the query came with), only the homeserver that
   * serves the alias's tenant is answered: another homeserver's token gets false.
   */
  readonly query: (alias: string, origin?: Redacted.Redacted<string>) => Effect.Effect<boolean>
  /** A key was reconciled: its waiting queries learn whether its room exists now. */
  readonly settle: (key: string, exists: boolean) => Effect.Effect<void>
  /** Queries waiting now. */
  readonly waiting: Effect.Effect<number>
}

export class AliasQueries extends Context.Tag("@openmeet-reconciler/engine/AliasQueries")<
  AliasQueries,
  AliasQueriesService
>() {
  static readonly layer = Layer.effect(
    AliasQueries,
    Effect.gen(function* () {
      const config = yield* ControllerConfig
      const desiredState = yield* DesiredState
      const queue = yield* WorkQueue
      const homeservers = yield* Homeservers
      const waiters = new Map<string, Set<Deferred.Deferred<boolean>>>()
      const timeout = config.aliasQueryTimeout ?? "20 seconds"

      const wait = (key: string) =>
        Effect.acquireUseRelease(
          Effect.gen(function* () {
            const deferred = yield* Deferred.make<boolean>()
            waiters.set(key, (waiters.get(key) ?? new Set()).add(deferred))
            return deferred
          }),
          (deferred) =>
            queue
              .add(key, "change")
              .pipe(
                Effect.zipRight(Deferred.await(deferred)),
                Effect.timeoutTo({ duration: timeout, onTimeout: () => false, onSuccess: (exists) => exists }),
              ),
          // Answered, timed out or interrupted: the waiter goes, so waiters never pile up.
          (deferred) =>
            Effect.sync(() => {
              const set = waiters.get(key)
              set?.delete(deferred)
              if (set?.size === 0) waiters.delete(key)
            }),
        )

      /** Whether the homeserver that presented `origin` is the one serving this tenant. */
      const fromItsHomeserver = (runtime: TenantRuntime, origin: Redacted.Redacted<string> | undefined) =>
        origin === undefined
          ? Effect.succeed(true)
          : homeservers.targetFor(runtime.tenant.serverName, ownHomeserver(runtime)).pipe(
              Effect.map(
                (target) => target.hsToken !== undefined && Redacted.value(target.hsToken) === Redacted.value(origin),
              ),
              Effect.orElseSucceed(() => false),
            )

      const query = (alias: string, origin?: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          // The reconciler itself asks the homeserver about the alias while reconciling the
          // room, and the homeserver asks us: the room does not exist yet.
          if (config.cache.isResolving(alias)) return false
          for (const runtime of config.tenants) {
            const parsed = parseAlias(alias, runtime.tenant.serverName)
            if (parsed === undefined || parsed.tenant !== runtime.tenant.id) continue
            if (!(yield* fromItsHomeserver(runtime, origin))) {
              yield* Effect.logDebug(`alias query ${alias}: from a homeserver that does not serve its tenant; 404`)
              return false
            }
            const id = yield* desiredState.entityIdBySlug(runtime.tenant, parsed.kind, parsed.slug)
            if (id === undefined) return false
            // Anyone else's query waits for the reconcile, even one already under way.
            if (config.cache.isResolving(alias)) return false
            return yield* wait(formatRoomKey({ tenant: runtime.tenant.id, kind: parsed.kind, entityId: id }))
          }
          return false
        }).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(`alias query ${alias}: ${error.message}`).pipe(Effect.as(false)),
          ),
          Effect.withSpan("AliasQueries.query"),
        )

      return {
        query,
        settle: (key, exists) =>
          Effect.forEach(waiters.get(key) ?? [], (deferred) => Deferred.succeed(deferred, exists), { discard: true }),
        waiting: Effect.sync(() => [...waiters.values()].reduce((n, set) => n + set.size, 0)),
      }
    }),
  )
}
