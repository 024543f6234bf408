import type { StateCache } from "@openmeet-reconciler/matrix"
import { Effect, Either, Layer, Schedule } from "effect"
import { ControllerConfig } from "./ControllerConfig.ts"
import { Store } from "./Store.ts"
import type { StateToSave } from "./StoreStates.ts"

/**
 * The state cache, persisted in the reconciler's schema (`room_states`) so that a new
 * leader, and a CLI plan while a leader runs, start warm instead of reading every room.
 * While the controller runs (PERSIST states on): it first loads what is persisted into the
 * cache, then writes what the cache keeps, every `every`, with the token each read began
 * with (the cache's token follows the invalidations: those the leader writes as it
 * accepts transactions, and the schema's latest every `every` and as relayed rooms come). Whoever accepts a transaction (the leader in `Controller.onMatrixEvents`, a standby
 * in the daemon) invalidates the persisted states of its rooms first, so what is persisted
 * is as fresh as the transactions accepted, like the cache itself (StoreStates.ts).
 */
const make = (every: `${number} seconds`) =>
  Effect.gen(function* () {
    const config = yield* ControllerConfig
    if (config.persistStates !== true) return
    const store = yield* Store
    const cache = config.cache
    const mark = cache.mark()
    const loaded = yield* store.loadStates.pipe(Effect.either)
    if (Either.isLeft(loaded)) {
      yield* Effect.logWarning(`persisted room states: ${loaded.left.message}; rooms are read from Matrix`)
    } else {
      cache.prime(loaded.right, mark)
      yield* Effect.logInfo(
        `state cache: ${loaded.right.states.length} persisted room state(s), ${loaded.right.freeAliases.length} free alias(es) loaded`,
      )
      if (loaded.right.unreadable > 0) {
        yield* Effect.logWarning(`${loaded.right.unreadable} persisted room state(s) unreadable; read from Matrix`)
      }
    }
    const first = yield* store.stateToken.pipe(Effect.either)
    if (Either.isLeft(first)) {
      return yield* Effect.logWarning(`persisted room states: ${first.left.message}; not persisting`)
    }
    cache.advanceToken(first.right)
    let pending: Array<StateToSave> = []
    const maxAgeMs = cache.maxAgeMs
    // The controllers of a replica's tenants share its cache: one of them writes each state.
    const stop = cache.persistTo({
      stored: ({ token, ...state }) => pending.push({ kind: "room", state, token, maxAgeMs }),
      freeAlias: ({ token, ...free }) => pending.push({ kind: "alias", free, token, maxAgeMs }),
    })
    const flush = Effect.gen(function* () {
      // A token lower than the truth only keeps more out; this one catches up with standbys.
      cache.advanceToken(yield* store.stateToken)
      const batch = pending
      pending = []
      yield* store.saveStates(batch)
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`persisting room states: ${error.message}`)))
    // Stopping writes what is pending: another controller of this replica may go on reading.
    yield* Effect.addFinalizer(() => Effect.sync(stop).pipe(Effect.zipRight(flush)))
    yield* Effect.forkScoped(Effect.repeat(flush, Schedule.spaced(every)))
  })

export const PersistedCacheLive = Layer.scopedDiscard(make("1 seconds"))

/**
 * Warms a CLI pass's cache from the persisted states, when leaders keep them fresh (each of
 * the pass's tenants has its leader lock held, so transactions are accepted and what they
 * change invalidated). Without a
 * leader nobody hears of changes, and every room is read from Matrix. Returns the number
 * of states loaded.
 */
export const warmFromLeader = (
  cache: StateCache,
  tenants: ReadonlyArray<string>,
): Effect.Effect<number, never, Store> =>
  Effect.gen(function* () {
    const store = yield* Store
    if (!(yield* store.statesMaintained(tenants))) return 0
    const mark = cache.mark()
    const known = yield* store.loadStates
    cache.prime(known, mark)
    return known.states.length
  }).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning(`persisted room states: ${error.message}; every room is read from Matrix`).pipe(Effect.as(0)),
    ),
  )
