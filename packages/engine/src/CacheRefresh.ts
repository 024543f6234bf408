import { Effect, Layer, Schedule } from "effect"
import { ControllerConfig } from "./ControllerConfig.ts"

/**
 * Keeps the state cache from expiring all at once. Entries read together (a first resync,
 * a new leader's persisted states) would all pass STATE_CACHE_TTL together, and the next
 * resync would read every room again; instead, every `every` the rooms read longest ago
 * are read again once past half the TTL, a few at a time, so a resync finds them fresh.
 */
const make = (every: `${number} seconds`) =>
  Effect.gen(function* () {
    const config = yield* ControllerConfig
    const refresh = config.cache
      .refresh(every)
      .pipe(Effect.tap((read) => (read > 0 ? Effect.logDebug(`state cache: ${read} room(s) read again`) : Effect.void)))
    yield* Effect.forkScoped(Effect.repeat(refresh, Schedule.spaced(every)))
  })

export const CacheRefreshLive = Layer.scopedDiscard(make("1 seconds"))
