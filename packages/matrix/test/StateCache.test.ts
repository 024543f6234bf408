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
})
