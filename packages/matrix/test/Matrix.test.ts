import { expect, layer } from "@effect/vitest"
import { synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Redacted } from "effect"
import { Matrix } from "../src/index.ts"

const services = testServices()
const synapse = synapseClient(services)
const Live = Matrix.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make(services.asToken) })
const s = services.serverName

layer(Live, { excludeTestServices: true })("Matrix service against Synapse", (it) => {
  it.effect("knows the bot from whoami", () =>
    Effect.gen(function* () {
      const matrix = yield* Matrix
      expect(matrix.botUserId).toBe(services.botUserId)
    }),
  )

  it.effect("creates a room with alias, settings, levels and invites in one request, and reads it back", () =>
    Effect.gen(function* () {
      const matrix = yield* Matrix
      const tag = uniqueTenantId("mx")
      const alias = `#event-create-${tag}:${s}`
      const roomId = yield* matrix.createRoom({
        alias,
        name: "Create test",
        joinRule: "invite",
        historyVisibility: "shared",
        guestAccess: "forbidden",
        users: { [`@host-${tag}:${s}`]: 99 },
        invite: [`@host-${tag}:${s}`, `@ann-${tag}:${s}`],
      })
      expect(yield* matrix.resolveAlias(alias)).toBe(roomId)
      expect((yield* matrix.joinedRooms).has(roomId)).toBe(true)
      const room = yield* matrix.readRoom(roomId)
      expect(room).toMatchObject({
        roomId,
        roomVersion: "11",
        creators: [services.botUserId],
        name: "Create test",
        joinRule: "invite",
        historyVisibility: "shared",
        guestAccess: "forbidden",
        canonicalAlias: alias,
        encrypted: false,
        successor: undefined,
      })
      expect(room.powerLevels.users).toEqual({ [services.botUserId]: 100, [`@host-${tag}:${s}`]: 99 })
      expect(Object.fromEntries([...room.members.values()].map((m) => [m.userId, [m.membership, m.sender]]))).toEqual({
        [services.botUserId]: ["join", services.botUserId],
        [`@host-${tag}:${s}`]: ["invite", services.botUserId],
        [`@ann-${tag}:${s}`]: ["invite", services.botUserId],
      })
      // Synapse's own view agrees.
      expect(yield* Effect.promise(() => synapse.memberships(roomId))).toEqual({
        [services.botUserId]: "join",
        [`@host-${tag}:${s}`]: "invite",
        [`@ann-${tag}:${s}`]: "invite",
      })
    }),
  )

  it.effect("a second creation with the same alias fails as AliasInUse (a retry finds the room)", () =>
    Effect.gen(function* () {
      const matrix = yield* Matrix
      const alias = `#event-twice-${uniqueTenantId("mx")}:${s}`
      const spec = {
        alias,
        name: "Twice",
        joinRule: "public" as const,
        historyVisibility: "shared",
        guestAccess: "forbidden",
        users: {},
        invite: [],
      }
      yield* matrix.createRoom(spec)
      const error = yield* matrix.createRoom(spec).pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "AliasInUse", alias })
    }),
  )

  it.effect("writes state, invites, kicks with a reason, and joins as a user of the namespace", () =>
    Effect.gen(function* () {
      const matrix = yield* Matrix
      const tag = uniqueTenantId("mx")
      const roomId = yield* matrix.createRoom({
        alias: `#event-writes-${tag}:${s}`,
        name: "Writes",
        joinRule: "invite",
        historyVisibility: "shared",
        guestAccess: "forbidden",
        users: {},
        invite: [],
      })
      const ann = yield* Effect.promise(() => synapse.register(`ann-${tag}`))
      yield* matrix.sendState(roomId, "m.room.name", { name: "Renamed" })
      yield* matrix.invite(roomId, `@bob-${tag}:${s}`, "attendee status confirmed")
      yield* matrix.invite(roomId, ann, "attendee status confirmed")
      yield* matrix.joinAs(roomId, ann)
      yield* matrix.kick(roomId, `@bob-${tag}:${s}`, "attendee status rejected is not entitled")
      const room = yield* matrix.readRoom(roomId)
      expect(room.name).toBe("Renamed")
      expect(room.members.get(ann)).toEqual({ userId: ann, membership: "join", sender: ann })
      expect(room.members.get(`@bob-${tag}:${s}`)).toEqual({
        userId: `@bob-${tag}:${s}`,
        membership: "leave",
        sender: services.botUserId,
      })
    }),
  )

  it.effect("maps Matrix errors to tagged errors", () =>
    Effect.gen(function* () {
      const matrix = yield* Matrix
      expect(yield* matrix.resolveAlias(`#event-nothing-${uniqueTenantId("mx")}:${s}`)).toBeUndefined()
      const notFound = yield* matrix.readRoom(`!nosuchroom:${s}`).pipe(Effect.flip)
      expect(["Forbidden", "NotFound"]).toContain(notFound._tag)
      const bad = yield* matrix.sendState(`!nosuchroom:${s}`, "m.room.name", { name: "x" }).pipe(Effect.flip)
      expect(["Forbidden", "NotFound"]).toContain(bad._tag)
    }),
  )

  it.effect("a wrong token fails at start with a Matrix error naming whoami", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Matrix.pipe(
          Effect.provide(Matrix.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make("wrong") })),
        ),
      )
      expect(error).toMatchObject({ endpoint: "GET /account/whoami" })
    }),
  )

  it.effect("an unreachable homeserver is HomeserverUnavailable after bounded retries", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Matrix.pipe(
          Effect.provide(
            Matrix.layer({ homeserverUrl: "http://127.0.0.1:1", asToken: Redacted.make("x"), maxAttempts: 2 }),
          ),
        ),
      )
      expect(error._tag).toBe("HomeserverUnavailable")
    }),
  )
})
