import type { ActualRoom } from "@openmeet-reconciler/core"
import { isRecord } from "@openmeet-reconciler/core"
import { Duration, Effect } from "effect"
import type { RoomEvent } from "./AppService.ts"
import type { MatrixService } from "./Matrix.ts"
import type { FreeAlias } from "./StateCacheAliases.ts"
import { freeAliasMemory } from "./StateCacheAliases.ts"

export type { FreeAlias } from "./StateCacheAliases.ts"

export interface StateCacheOptions {
  /** A room's cached state is read again once it is this old, even without a transaction about it. */
  readonly maxAge: Duration.DurationInput
}

export interface StateCacheStats {
  readonly hits: number
  readonly misses: number
  readonly rooms: number
}

/** A room's state as read through one homeserver (its bot) at `at` (ms since the epoch). */
export interface CachedState {
  readonly roomId: string
  readonly bot: string
  readonly room: ActualRoom
  readonly at: number
}

/**
 * Where the rooms the cache keeps are written too (the reconciler's schema, by the daemon's
 * leader), so a new leader or a CLI plan starts warm. Each comes with the token the cache
 * held as its read began: the highest invalidation version known then, so a read with a
 * lower token than a room's invalidation may predate it (StoreStates.ts).
 */
export interface StateSink {
  readonly stored: (state: CachedState & { readonly token: bigint }) => void
  /** An alias found free, with the token its lookup began with. */
  readonly freeAlias: (found: FreeAlias & { readonly token: bigint }) => void
}

/**
 * The rooms' state as the reconciler last read it, kept fresh by the homeserver's
 * appservice transactions: any state event in a room drops that room's entry, any
 * membership change of a bot drops its joined-rooms list. A read that raced with such an
 * event is not stored (a generation per room), so the cache never holds state older than
 * an event already seen. Entries also expire after `maxAge`, which bounds the harm of a
 * transaction the homeserver never delivered; `refresh` reads the oldest again before
 * that, a few at a time, so they never all expire at once.
 */
export interface StateCache {
  /** STATE_CACHE_TTL: how long a state is trusted without a transaction about it. */
  readonly maxAgeMs: number
  /** The homeserver's service with reads served from the cache; its writes drop what they change. */
  readonly wrap: (matrix: MatrixService) => MatrixService
  /**
   * The events of an appservice transaction: a state event drops its room, a bot's
   * membership change the joined rooms, a canonical alias event the aliases it names.
   */
  readonly onEvents: (events: ReadonlyArray<RoomEvent>) => void
  /** A state event in this room arrived (or the reconciler wrote to it). */
  readonly invalidateRoom: (roomId: string) => void
  /** An alias may have been created (a canonical alias event named it): it is looked up again. */
  readonly invalidateAlias: (alias: string) => void
  /** A bot's membership changed somewhere: its joined rooms are read again. */
  readonly invalidateJoined: () => void
  /**
   * Whether the reconciler itself is resolving this alias right now: the homeserver then
   * asks the appservice about it, and the answer must be "no such room" at once.
   */
  readonly isResolving: (alias: string) => boolean
  /** Whether this user is the bot of a homeserver wrapped so far (its own writes come back as events). */
  readonly isBot: (userId: string) => boolean
  /** Drops everything (a gap in the transaction stream, a new leader). */
  readonly clear: () => void
  /** Where everything dropped or kept is now: `prime` keeps only rooms not dropped since. */
  readonly mark: () => number
  /**
   * Keeps states read and aliases found free elsewhere (persisted), except of rooms and
   * aliases dropped since `mark`, and never over newer ones.
   */
  readonly prime: (
    known: { readonly states: Iterable<CachedState>; readonly freeAliases: Iterable<FreeAlias> },
    mark: number,
  ) => void
  /**
   * Reads again, through their homeserver, the rooms read longest ago once they are past
   * half of `maxAge`: as many as keeps every entry younger than `maxAge` when called every
   * `every`. Returns how many it read. Several callers share one cache (the controllers of
   * the tenants a replica leads): a call less than `every` after the last one reads nothing.
   */
  readonly refresh: (every: Duration.DurationInput) => Effect.Effect<number>
  /**
   * Writes what the cache keeps to `sink` from now on; the returned function stops it.
   * With several sinks (one per controller sharing the cache), only the one registered
   * last that is still on gets each write, so every state is persisted once.
   */
  readonly persistTo: (sink: StateSink) => () => void
  /**
   * An invalidation version that is known now (one the reconciler wrote, or the latest in
   * the schema): reads begun from now on carry it. Call it before dropping the rooms of an
   * invalidation, so their next reads are persisted.
   */
  readonly advanceToken: (version: bigint) => void
  readonly stats: () => StateCacheStats
}

/** The aliases a canonical alias event names (it may have created them). */
const aliasesNamed = (event: RoomEvent): ReadonlyArray<string> => {
  if (event.type !== "m.room.canonical_alias" || !isRecord(event.content)) return []
  const { alias, alt_aliases: alt } = event.content
  return [
    ...(typeof alias === "string" ? [alias] : []),
    ...(Array.isArray(alt) ? alt.filter((a): a is string => typeof a === "string") : []),
  ]
}

/**
 * What a transaction's events make stale, as the cache drops it: the rooms of its state
 * events and the aliases its canonical alias events name (persisted states use the same
 * keys: room ids and aliases).
 */
export const staleKeys = (events: ReadonlyArray<RoomEvent>): ReadonlyArray<string> => [
  ...new Set(events.flatMap((event) => (event.state_key === undefined ? [] : [event.room_id, ...aliasesNamed(event)]))),
]

interface Entry<A> {
  readonly value: A
  readonly at: number
}

/** Creates an empty cache; `now` is milliseconds (injectable for tests). */
export const makeStateCache = (options: StateCacheOptions, now: () => number = Date.now): StateCache => {
  const maxAgeMs = Duration.toMillis(options.maxAge)
  /** Insertion order is read order: every store deletes first, so the oldest come first. */
  const rooms = new Map<string, Entry<ActualRoom> & { readonly bot: string }>()
  /** When each room was last dropped, on one counter: a read begun before that is not kept. */
  let epoch = 0
  let clearedAt = 0
  const droppedAt = new Map<string, number>()
  const joined = new Map<string, Entry<ReadonlySet<string>>>()
  let joinedGeneration = 0
  /** The homeservers wrapped so far, by bot: their own membership changes the joined rooms. */
  const sources = new Map<string, MatrixService>()
  const sinks: Array<StateSink> = []
  const sink = (): StateSink | undefined => sinks[sinks.length - 1]
  let lastRefresh = Number.NEGATIVE_INFINITY
  let token = 0n
  const aliases = freeAliasMemory(
    maxAgeMs,
    now,
    { current: () => epoch, next: () => ++epoch },
    () => token,
    (found) => sink()?.freeAlias(found),
  )
  let hits = 0
  let misses = 0

  const fresh = <A>(entry: Entry<A> | undefined): entry is Entry<A> =>
    entry !== undefined && now() - entry.at < maxAgeMs
  const droppedSince = (roomId: string, mark: number) => Math.max(droppedAt.get(roomId) ?? 0, clearedAt) > mark

  const invalidateRoom = (roomId: string) => {
    rooms.delete(roomId)
    droppedAt.set(roomId, ++epoch)
  }
  const invalidateJoined = () => {
    joined.clear()
    joinedGeneration += 1
  }
  const clear = () => {
    rooms.clear()
    clearedAt = ++epoch
    invalidateJoined()
    aliases.clear()
  }

  /** Reads a room past the cache and keeps it unless an event about it arrived meanwhile. */
  const readAndKeep = (matrix: MatrixService, roomId: string) =>
    Effect.suspend(() => {
      const mark = epoch
      const began = token
      return matrix.readRoom(roomId).pipe(
        Effect.tap((room) =>
          Effect.sync(() => {
            if (droppedSince(roomId, mark)) return
            const state = { roomId, bot: matrix.botUserId, room, at: now() }
            rooms.delete(roomId)
            rooms.set(roomId, { value: room, at: state.at, bot: state.bot })
            sink()?.stored({ ...state, token: began })
          }),
        ),
      )
    })

  const onEvents = (events: ReadonlyArray<RoomEvent>) => {
    for (const event of events) {
      if (event.state_key === undefined) continue
      invalidateRoom(event.room_id)
      if (event.type === "m.room.member" && sources.has(event.state_key)) invalidateJoined()
      for (const alias of aliasesNamed(event)) aliases.invalidate(alias)
    }
  }

  const prime = (
    known: { readonly states: Iterable<CachedState>; readonly freeAliases: Iterable<FreeAlias> },
    mark: number,
  ) => {
    aliases.prime(known.freeAliases, mark)
    for (const state of [...known.states].sort((a, b) => a.at - b.at)) {
      if (droppedSince(state.roomId, mark) || now() - state.at >= maxAgeMs) continue
      const current = rooms.get(state.roomId)
      if (current !== undefined && current.at >= state.at) continue
      rooms.delete(state.roomId)
      rooms.set(state.roomId, { value: state.room, at: state.at, bot: state.bot })
    }
  }

  const refresh = (every: Duration.DurationInput) =>
    Effect.suspend(() => {
      const everyMs = Duration.toMillis(every)
      if (now() - lastRefresh < everyMs) return Effect.succeed(0)
      lastRefresh = now()
      const window = maxAgeMs / 2
      const limit = Math.ceil((rooms.size * everyMs) / window)
      const due: Array<{ readonly roomId: string; readonly matrix: MatrixService }> = []
      for (const [roomId, entry] of rooms) {
        if (due.length >= limit) break
        const matrix = sources.get(entry.bot)
        if (now() - entry.at >= window && matrix !== undefined) due.push({ roomId, matrix })
      }
      // A failed read keeps the entry: it is read on demand once it is past maxAge.
      return Effect.forEach(due, ({ roomId, matrix }) => readAndKeep(matrix, roomId).pipe(Effect.either), {
        concurrency: 4,
      }).pipe(Effect.map((results) => results.length))
    })

  const wrap = (matrix: MatrixService): MatrixService => {
    sources.set(matrix.botUserId, matrix)
    const readRoom = (roomId: string) =>
      Effect.suspend(() => {
        const cached = rooms.get(roomId)
        if (fresh(cached)) {
          hits += 1
          return Effect.succeed(cached.value)
        }
        misses += 1
        return readAndKeep(matrix, roomId)
      })
    const joinedRooms = Effect.suspend(() => {
      const cached = joined.get(matrix.botUserId)
      if (fresh(cached)) return Effect.succeed(cached.value)
      const generation = joinedGeneration
      return matrix.joinedRooms.pipe(
        Effect.tap((ids) =>
          Effect.sync(() => {
            if (joinedGeneration === generation) joined.set(matrix.botUserId, { value: ids, at: now() })
          }),
        ),
      )
    })
    /** A write changes the room: whatever succeeded or not, its state is read again next time. */
    const writes =
      (roomId: string) =>
      <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
        Effect.ensuring(
          effect,
          Effect.sync(() => invalidateRoom(roomId)),
        )
    const resolveAlias = (alias: string) =>
      aliases.resolve(alias, matrix.resolveAlias(alias), () => {
        hits += 1
      })
    return {
      ...matrix,
      joinedRooms,
      resolveAlias,
      readRoom,
      createRoom: (request) =>
        matrix.createRoom(request).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              invalidateJoined()
              aliases.invalidate(request.alias)
            }),
          ),
        ),
      sendState: (roomId, type, content) => writes(roomId)(matrix.sendState(roomId, type, content)),
      addAlias: (roomId, alias) =>
        writes(roomId)(matrix.addAlias(roomId, alias)).pipe(
          Effect.ensuring(Effect.sync(() => aliases.invalidate(alias))),
        ),
      removeAlias: (alias) =>
        matrix.removeAlias(alias).pipe(Effect.ensuring(Effect.sync(() => aliases.invalidate(alias)))),
      invite: (roomId, userId, reason) => writes(roomId)(matrix.invite(roomId, userId, reason)),
      joinAs: (roomId, userId) => writes(roomId)(matrix.joinAs(roomId, userId)),
      kick: (roomId, userId, reason) => writes(roomId)(matrix.kick(roomId, userId, reason)),
    }
  }

  return {
    maxAgeMs,
    wrap,
    onEvents,
    invalidateRoom,
    invalidateJoined,
    invalidateAlias: aliases.invalidate,
    isResolving: aliases.isResolving,
    isBot: (userId) => sources.has(userId),
    clear,
    mark: () => epoch,
    prime,
    refresh,
    persistTo: (next) => {
      sinks.push(next)
      return () => {
        const at = sinks.lastIndexOf(next)
        if (at >= 0) sinks.splice(at, 1)
      }
    },
    advanceToken: (version) => {
      if (version > token) token = version
    },
    stats: () => ({ hits, misses, rooms: rooms.size }),
  }
}
