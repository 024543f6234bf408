import type { ActualRoom } from "@openmeet-reconciler/core"
import { isRecord } from "@openmeet-reconciler/core"
import { Duration, Effect } from "effect"
import type { RoomEvent } from "./AppService.ts"
import type { MatrixService } from "./Matrix.ts"

export interface StateCacheOptions {
  /** A room's cached state is read again once it is this old, even without a transaction about it. */
  readonly maxAge: Duration.DurationInput
}

export interface StateCacheStats {
  readonly hits: number
  readonly misses: number
  readonly rooms: number
}

/**
 * The rooms' state as the reconciler last read it, kept fresh by the homeserver's
 * appservice transactions: any state event in a room drops that room's entry, any
 * membership change of a bot drops its joined-rooms list. A read that raced with such an
 * event is not stored (a generation per room), so the cache never holds state older than
 * an event already seen. Entries also expire after `maxAge`, which bounds the harm of a
 * transaction the homeserver never delivered.
 */
export interface StateCache {
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
  readonly stats: () => StateCacheStats
}

interface Entry<A> {
  readonly value: A
  readonly at: number
}

/** Creates an empty cache; `now` is milliseconds (injectable for tests). */
export const makeStateCache = (options: StateCacheOptions, now: () => number = Date.now): StateCache => {
  const maxAgeMs = Duration.toMillis(options.maxAge)
  const rooms = new Map<string, Entry<ActualRoom>>()
  const roomGeneration = new Map<string, number>()
  const joined = new Map<string, Entry<ReadonlySet<string>>>()
  let joinedGeneration = 0
  const resolving = new Map<string, number>()
  /**
   * Aliases found free. The alias namespace is exclusive to the appservice, so one appears
   * only when a room is created with it (its canonical alias event arrives in a
   * transaction) or is pointed at a room (the reconciler's own writes): a free alias
   * stays free until then, or until `maxAge`.
   */
  const freeAliases = new Map<string, number>()
  let aliasGeneration = 0
  /** The bots of the homeservers wrapped so far: their own membership changes the joined rooms. */
  const bots = new Set<string>()
  let hits = 0
  let misses = 0

  const fresh = <A>(entry: Entry<A> | undefined): entry is Entry<A> =>
    entry !== undefined && now() - entry.at < maxAgeMs

  const invalidateRoom = (roomId: string) => {
    rooms.delete(roomId)
    roomGeneration.set(roomId, (roomGeneration.get(roomId) ?? 0) + 1)
  }
  const invalidateAlias = (alias: string) => {
    freeAliases.delete(alias)
    aliasGeneration += 1
  }
  const invalidateJoined = () => {
    joined.clear()
    joinedGeneration += 1
  }

  const clear = () => {
    for (const roomId of rooms.keys()) invalidateRoom(roomId)
    invalidateJoined()
    freeAliases.clear()
    aliasGeneration += 1
  }

  const onEvents = (events: ReadonlyArray<RoomEvent>) => {
    for (const event of events) {
      if (event.state_key === undefined) continue
      invalidateRoom(event.room_id)
      if (event.type === "m.room.member" && bots.has(event.state_key)) invalidateJoined()
      if (event.type === "m.room.canonical_alias" && isRecord(event.content)) {
        const { alias, alt_aliases: alt } = event.content
        if (typeof alias === "string") invalidateAlias(alias)
        if (Array.isArray(alt)) for (const a of alt) if (typeof a === "string") invalidateAlias(a)
      }
    }
  }

  const wrap = (matrix: MatrixService): MatrixService => {
    bots.add(matrix.botUserId)
    const readRoom = (roomId: string) =>
      Effect.suspend(() => {
        const cached = rooms.get(roomId)
        if (fresh(cached)) {
          hits += 1
          return Effect.succeed(cached.value)
        }
        misses += 1
        const generation = roomGeneration.get(roomId) ?? 0
        return matrix.readRoom(roomId).pipe(
          Effect.tap((room) =>
            Effect.sync(() => {
              if ((roomGeneration.get(roomId) ?? 0) === generation) rooms.set(roomId, { value: room, at: now() })
            }),
          ),
        )
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
      Effect.acquireUseRelease(
        Effect.sync(() => resolving.set(alias, (resolving.get(alias) ?? 0) + 1)),
        () =>
          Effect.suspend(() => {
            const free = freeAliases.get(alias)
            if (free !== undefined && now() - free < maxAgeMs) {
              hits += 1
              return Effect.succeed(undefined)
            }
            const generation = aliasGeneration
            return matrix.resolveAlias(alias).pipe(
              Effect.tap((roomId) =>
                Effect.sync(() => {
                  if (roomId === undefined && aliasGeneration === generation) freeAliases.set(alias, now())
                }),
              ),
            )
          }),
        () =>
          Effect.sync(() => {
            const count = (resolving.get(alias) ?? 1) - 1
            if (count <= 0) resolving.delete(alias)
            else resolving.set(alias, count)
          }),
      )
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
              invalidateAlias(request.alias)
            }),
          ),
        ),
      sendState: (roomId, type, content) => writes(roomId)(matrix.sendState(roomId, type, content)),
      addAlias: (roomId, alias) =>
        writes(roomId)(matrix.addAlias(roomId, alias)).pipe(Effect.ensuring(Effect.sync(() => invalidateAlias(alias)))),
      removeAlias: (alias) =>
        matrix.removeAlias(alias).pipe(Effect.ensuring(Effect.sync(() => invalidateAlias(alias)))),
      invite: (roomId, userId, reason) => writes(roomId)(matrix.invite(roomId, userId, reason)),
      joinAs: (roomId, userId) => writes(roomId)(matrix.joinAs(roomId, userId)),
      kick: (roomId, userId, reason) => writes(roomId)(matrix.kick(roomId, userId, reason)),
    }
  }

  return {
    wrap,
    onEvents,
    invalidateRoom,
    invalidateJoined,
    invalidateAlias,
    isResolving: (alias) => resolving.has(alias),
    isBot: (userId) => bots.has(userId),
    clear,
    stats: () => ({ hits, misses, rooms: rooms.size }),
  }
}
