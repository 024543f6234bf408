import type { ActualRoom } from "@openmeet-reconciler/core"
import { Deferred, Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import type { MatrixService } from "../src/index.ts"
import { makeStateCache } from "../src/index.ts"

const room = (roomId: string, name: string): ActualRoom => ({
  roomId,
  roomVersion: "11",
  creators: [],
  members: new Map(),
  powerLevels: {},
  name,
  joinRule: "invite",
  historyVisibility: "shared",
  guestAccess: "forbidden",
  canonicalAlias: undefined,
  altAliases: [],
  encrypted: false,
  successor: undefined,
})

const newRoom = {
  alias: "#event-a-t:s",
  name: "a",
  joinRule: "invite",
  historyVisibility: "shared",
  guestAccess: "forbidden",
  users: {},
  invite: [],
} as const

/**
 * A homeserver stand-in that counts reads: the cache's own bookkeeping is under test here,
 * not Matrix (the daemon's tests run it against Synapse).
 */
const counting = () => {
  const reads: Array<string> = []
  let joinedReads = 0
  let version = 0
  const never = () => Effect.die("not used")
  const service: MatrixService = {
    botUserId: "@bot:s",
    defaultRoomVersion: Effect.succeed("11"),
    joinedRooms: Effect.sync(() => {
      joinedReads += 1
      return new Set(["!a:s"])
    }),
    resolveAlias: () => Effect.succeed(undefined),
    readRoom: (roomId) =>
      Effect.sync(() => {
        reads.push(roomId)
        version += 1
        return room(roomId, `v${version}`)
      }),
    createRoom: () => Effect.succeed("!new:s"),
    sendState: () => Effect.void,
    addAlias: never,
    invite: () => Effect.void,
    joinAs: never,
    kick: () => Effect.void,
    pingAppservice: never,
    removeAlias: never,
  }
  return { service, reads, joinedReads: () => joinedReads }
}

describe("state cache", () => {
  it("serves a room from the cache until an event or a write drops it", async () => {
    const upstream = counting()
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap(upstream.service)
    const names = await Effect.runPromise(
      Effect.gen(function* () {
        const first = yield* matrix.readRoom("!a:s")
        const second = yield* matrix.readRoom("!a:s")
        cache.invalidateRoom("!a:s")
        const third = yield* matrix.readRoom("!a:s")
        yield* matrix.invite("!a:s", "@u:s", "test")
        const fourth = yield* matrix.readRoom("!a:s")
        return [first.name, second.name, third.name, fourth.name]
      }),
    )
    expect(names).toEqual(["v1", "v1", "v2", "v3"])
    expect(upstream.reads).toEqual(["!a:s", "!a:s", "!a:s"])
    expect(cache.stats()).toEqual({ hits: 1, misses: 3, rooms: 1 })
  })

  it("reads a room again once it is older than maxAge", async () => {
    const upstream = counting()
    let now = 0
    const cache = makeStateCache({ maxAge: "10 seconds" }, () => now)
    const matrix = cache.wrap(upstream.service)
    await Effect.runPromise(matrix.readRoom("!a:s"))
    now = 9_999
    await Effect.runPromise(matrix.readRoom("!a:s"))
    now = 10_000
    await Effect.runPromise(matrix.readRoom("!a:s"))
    expect(upstream.reads).toHaveLength(2)
  })

  it("does not store a read that raced with an event about the room", async () => {
    const upstream = counting()
    const gate = await Effect.runPromise(Deferred.make<void>())
    const slow: MatrixService = {
      ...upstream.service,
      readRoom: (roomId) => Deferred.await(gate).pipe(Effect.zipRight(upstream.service.readRoom(roomId))),
    }
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap(slow)
    await Effect.runPromise(
      Effect.gen(function* () {
        const reading = yield* Effect.fork(matrix.readRoom("!a:s"))
        yield* Effect.yieldNow()
        // The event arrives while the read is in flight: the read's answer may predate it.
        cache.invalidateRoom("!a:s")
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(reading)
        yield* matrix.readRoom("!a:s")
      }),
    )
    expect(upstream.reads).toHaveLength(2)
  })

  it("keeps the joined rooms until a bot's membership changes or a room is created", async () => {
    const upstream = counting()
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap(upstream.service)
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* matrix.joinedRooms
        yield* matrix.joinedRooms
        cache.invalidateJoined()
        yield* matrix.joinedRooms
        yield* matrix.createRoom(newRoom)
        yield* matrix.joinedRooms
      }),
    )
    expect(upstream.joinedReads()).toBe(3)
  })

  it("knows which aliases the reconciler is resolving right now", async () => {
    const upstream = counting()
    const cache = makeStateCache({ maxAge: "1 hour" })
    const seen: Array<boolean> = []
    const matrix = cache.wrap({
      ...upstream.service,
      resolveAlias: (alias) => Effect.sync(() => seen.push(cache.isResolving(alias))).pipe(Effect.as(undefined)),
    })
    await Effect.runPromise(matrix.resolveAlias("#event-x-t:s"))
    expect(seen).toEqual([true])
    expect(cache.isResolving("#event-x-t:s")).toBe(false)
  })

  it("remembers a free alias until a canonical alias event or its own write names it", async () => {
    const upstream = counting()
    const lookups: Array<string> = []
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap({
      ...upstream.service,
      resolveAlias: (alias) => Effect.sync(() => lookups.push(alias)).pipe(Effect.as(undefined)),
    })
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* matrix.resolveAlias("#event-a-t:s")
        yield* matrix.resolveAlias("#event-a-t:s")
        cache.invalidateAlias("#event-a-t:s")
        yield* matrix.resolveAlias("#event-a-t:s")
        yield* matrix.createRoom(newRoom)
        yield* matrix.resolveAlias("#event-a-t:s")
      }),
    )
    expect(lookups).toEqual(["#event-a-t:s", "#event-a-t:s", "#event-a-t:s"])
  })

  it("reads the oldest rooms again a few at a time, before they expire, so they never all expire at once", async () => {
    const upstream = counting()
    let now = 0
    const cache = makeStateCache({ maxAge: "100 seconds" }, () => now)
    const matrix = cache.wrap(upstream.service)
    const ids = Array.from({ length: 100 }, (_, i) => `!r${i}:s`)
    await Effect.runPromise(Effect.forEach(ids, (id) => matrix.readRoom(id)))
    const perTick: Array<number> = []
    const again: Array<number> = []
    for (now = 1_000; now < 100_000; now += 1_000) {
      perTick.push(await Effect.runPromise(cache.refresh("1 second")))
      // Another controller sharing the cache, in the same second: nothing more is read.
      again.push(await Effect.runPromise(cache.refresh("1 second")))
    }
    expect(again.every((n) => n === 0)).toBe(true)
    // Nothing until half of maxAge, then a steady trickle that renews every room in time.
    expect(perTick.slice(0, 49).every((n) => n === 0)).toBe(true)
    expect(Math.max(...perTick)).toBe(2)
    expect(perTick.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(100)
    const reads = upstream.reads.length
    await Effect.runPromise(Effect.forEach(ids, (id) => matrix.readRoom(id)))
    expect(upstream.reads.length - reads).toBe(0)
  })

  it("keeps primed states and free aliases, except those dropped since the mark, expired ones, or over newer reads", async () => {
    const upstream = counting()
    const lookups: Array<string> = []
    let now = 50_000
    const cache = makeStateCache({ maxAge: "100 seconds" }, () => now)
    const matrix = cache.wrap({
      ...upstream.service,
      resolveAlias: (alias) => Effect.sync(() => lookups.push(alias)).pipe(Effect.as(undefined)),
    })
    await Effect.runPromise(matrix.readRoom("!newer:s"))
    const mark = cache.mark()
    cache.invalidateRoom("!dropped:s")
    cache.invalidateAlias("#event-dropped-t:s")
    const state = (roomId: string, at: number) => ({ roomId, bot: "@bot:s", room: room(roomId, "primed"), at })
    cache.prime(
      {
        states: [
          state("!kept:s", 40_000),
          state("!dropped:s", 40_000),
          state("!newer:s", 40_000),
          state("!old:s", -60_000),
        ],
        freeAliases: [
          { alias: "#event-kept-t:s", at: 40_000 },
          { alias: "#event-dropped-t:s", at: 40_000 },
          { alias: "#event-old-t:s", at: -60_000 },
        ],
      },
      mark,
    )
    await Effect.runPromise(
      Effect.forEach(["#event-kept-t:s", "#event-dropped-t:s", "#event-old-t:s"], (a) => matrix.resolveAlias(a)),
    )
    expect(lookups).toEqual(["#event-dropped-t:s", "#event-old-t:s"])
    now = 60_000
    const names = await Effect.runPromise(
      Effect.forEach(["!kept:s", "!dropped:s", "!newer:s", "!old:s"], (id) =>
        Effect.map(matrix.readRoom(id), (r) => r.name),
      ),
    )
    expect(names).toEqual(["primed", "v2", "v1", "v3"])
  })

  it("writes what it keeps to its sink, with the token taken as the read began, and not a raced read", async () => {
    const upstream = counting()
    const gate = await Effect.runPromise(Deferred.make<void>())
    const stored: Array<string> = []
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap({
      ...upstream.service,
      readRoom: (roomId) =>
        (roomId === "!slow:s" ? Deferred.await(gate) : Effect.void).pipe(
          Effect.zipRight(upstream.service.readRoom(roomId)),
        ),
    })
    cache.advanceToken(7n)
    const stop = cache.persistTo({
      stored: (s) => stored.push(`${s.roomId} ${s.bot} ${s.token} ${s.room.name}`),
      freeAlias: (found) => stored.push(`${found.alias} ${found.token}`),
    })
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* matrix.readRoom("!a:s")
        const slow = yield* Effect.fork(matrix.readRoom("!slow:s"))
        yield* Effect.yieldNow()
        cache.advanceToken(9n)
        cache.advanceToken(8n)
        cache.invalidateRoom("!slow:s")
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(slow)
        yield* matrix.readRoom("!b:s")
        yield* matrix.resolveAlias("#event-free-t:s")
        stop()
        yield* matrix.readRoom("!c:s")
      }),
    )
    expect(stored).toEqual(["!a:s @bot:s 7 v1", "!b:s @bot:s 9 v3", "#event-free-t:s 9"])
  })

  it("writes each state to one sink: the one registered last that is still on", async () => {
    const upstream = counting()
    const cache = makeStateCache({ maxAge: "1 hour" })
    const matrix = cache.wrap(upstream.service)
    const first: Array<string> = []
    const second: Array<string> = []
    const sinkOf = (into: Array<string>) => ({
      stored: (s: { readonly roomId: string }) => into.push(s.roomId),
      freeAlias: (found: { readonly alias: string }) => into.push(found.alias),
    })
    const stopFirst = cache.persistTo(sinkOf(first))
    const stopSecond = cache.persistTo(sinkOf(second))
    await Effect.runPromise(matrix.readRoom("!a:s"))
    stopSecond()
    await Effect.runPromise(matrix.readRoom("!b:s"))
    stopFirst()
    await Effect.runPromise(matrix.readRoom("!c:s"))
    expect({ first, second }).toEqual({ first: ["!b:s"], second: ["!a:s"] })
  })
})
