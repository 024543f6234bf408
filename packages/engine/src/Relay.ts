import type { MatrixService } from "@openmeet-reconciler/matrix"
import { describeMatrixError, type Homeservers } from "@openmeet-reconciler/matrix"
import { Effect, Either, Layer, Schedule } from "effect"
import { ControllerConfig } from "./ControllerConfig.ts"
import { homeserverOf } from "./Pass.ts"
import { RoomStatus } from "./RoomStatus.ts"
import { Store } from "./Store.ts"
import { WorkQueue } from "./WorkQueue.ts"

/**
 * What the leader did not hear: a homeserver sends transactions to the registration's
 * one URL, which may reach a standby (it answers 503, so the homeserver keeps the
 * transaction and retries after a backoff of up to minutes). The standby writes the rooms
 * the refused transaction names into the reconciler's schema; the leader reads them every
 * `every`, drops them from its state cache, queues their keys, and asks each homeserver to
 * ping the appservice, which makes it send what it holds back now. The same ping when the
 * controller starts flushes what piled up while nobody led.
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
          .pingAppservice(config.appserviceId)
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
      const rooms = yield* store.takeRelayed
      if (rooms.length === 0) return
      for (const roomId of rooms) {
        config.cache.invalidateRoom(roomId)
        const key = status.keyOfRoom(roomId)
        if (key !== undefined) yield* queue.add(key, "change")
      }
      yield* Effect.logInfo(`${rooms.length} room(s) from transactions a standby refused; asking for them again`)
      yield* flush
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`relayed rooms: ${error.message}`)))

    yield* Effect.forkScoped(flush)
    yield* Effect.forkScoped(Effect.repeat(relayed, every))
  })

export const RelayLive = Layer.scopedDiscard(make(Schedule.spaced("1 second")))
