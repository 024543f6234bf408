import type { MatrixService } from "@openmeet-reconciler/matrix"
import { describeMatrixError, type Homeservers } from "@openmeet-reconciler/matrix"
import { Effect, Either, Layer, Schedule } from "effect"
import { ControllerConfig } from "./ControllerConfig.ts"
import { homeserverOf } from "./Pass.ts"
import { RoomStatus } from "./RoomStatus.ts"
import { Store } from "./Store.ts"
import { WorkQueue } from "./WorkQueue.ts"

/**
 * What the leader would not hear: a homeserver sends transactions to the registration's
 * one URL, which may reach a standby. The standby stores the rooms a transaction names in
 * the reconciler's schema (`relayed_rooms`) and accepts it (answering 503 instead would
 * make the homeserver retry that same transaction after a growing backoff, holding back
 * every later one). The leader takes them every `every`, drops them from its state cache
 * and queues their keys. When the controller starts, it asks each homeserver to ping the
 * appservice, which makes one that gave up on it while nobody answered send what it held.
 */
const make = (every: Schedule.Schedule<unknown>) =>
  Effect.gen(function* () {
    const config = yield* ControllerConfig
    const queue = yield* WorkQueue
    const status = yield* RoomStatus
    const store = yield* Store
    const context = yield* Effect.context<Homeservers>()

    const flush = Effect.gen(function* () {
      const seen = new Set<MatrixService>()
      for (const runtime of config.tenants) {
        const matrix = yield* homeserverOf(runtime).pipe(Effect.either)
        if (Either.isLeft(matrix) || seen.has(matrix.right)) continue
        seen.add(matrix.right)
        yield* matrix.right
          .pingAppservice(matrix.right.appserviceId ?? config.appserviceId)
          .pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(
                `tenant ${runtime.tenant.id}: the homeserver could not ping the appservice (check the registration's url): ${describeMatrixError(error)}`,
              ),
            ),
          )
      }
    }).pipe(Effect.provide(context))

    const relayed = Effect.gen(function* () {
      const rooms = yield* store.takeRelayed(config.tenants.map((r) => r.tenant.id))
      if (rooms.length === 0) return
      let queued = 0
      for (const roomId of rooms) {
        config.cache.invalidateRoom(roomId)
        const key = status.keyOfRoom(roomId)
        if (key === undefined) continue
        queued += 1
        yield* queue.add(key, "change")
      }
      yield* Effect.logInfo(
        `${rooms.length} room(s) from transactions another replica took, ${queued} of them managed here`,
      )
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`relayed rooms: ${error.message}`)))

    yield* Effect.forkScoped(flush)
    yield* Effect.forkScoped(Effect.repeat(relayed, every))
  })

export const RelayLive = Layer.scopedDiscard(make(Schedule.spaced("1 second")))
