import type { ActualRoom } from "@openmeet-reconciler/core"
import { Forbidden, Matrix } from "@openmeet-reconciler/matrix"
import { Effect, Layer } from "effect"

/** One room of the in-memory homeserver: what its state says and whether the bot is joined. */
export interface MemoryRoom {
  readonly botJoined: boolean
  readonly canonicalAlias?: string | undefined
  /** `m.room.tombstone`'s `replacement_room`. */
  readonly successor?: string
  /** 50 in an archived room (only moderators and up post). */
  readonly eventsDefault?: number
}

export const memoryBot = "@openmeet-bot:example.org"

/** A room's state as the bot reads it: only the bot in it, the rest as `room` says. */
export const roomState = (roomId: string, room: MemoryRoom): ActualRoom => ({
  roomId,
  roomVersion: "10",
  creators: [memoryBot],
  members: new Map([[memoryBot, { userId: memoryBot, membership: "join", sender: memoryBot }]]),
  powerLevels: { users: { [memoryBot]: 100 }, events_default: room.eventsDefault ?? 0 },
  name: undefined,
  joinRule: "invite",
  historyVisibility: "shared",
  guestAccess: "forbidden",
  canonicalAlias: room.canonicalAlias,
  altAliases: [],
  encrypted: false,
  successor: room.successor,
})

/**
 * A homeserver in memory for the pure tests of what only reads Matrix (room identity, run
 * once per mutant by `pnpm mutation`, where Synapse would be far too slow). It answers the
 * three reads as Synapse does: the rooms the bot is joined to, an alias's room (none when
 * the directory lacks it), and a room's state, which Synapse refuses (403 M_FORBIDDEN) to a
 * bot not in the room. Identifying a room never writes, so a write here is a defect of the
 * code under test, not a refusal by the homeserver.
 */
export const memoryMatrix = (
  rooms: Readonly<Record<string, MemoryRoom>>,
  directory: Readonly<Record<string, string>>,
) => {
  /** Every alias looked up in the directory, in order. */
  const lookups: Array<string> = []
  const writes = (what: string) => Effect.dieMessage(`identifying a room wrote to Matrix (${what})`)
  const layer = Layer.succeed(
    Matrix,
    Matrix.of({
      botUserId: memoryBot,
      defaultRoomVersion: Effect.succeed("10"),
      joinedRooms: Effect.sync(
        () => new Set(Object.entries(rooms).flatMap(([roomId, room]) => (room.botJoined ? [roomId] : []))),
      ),
      resolveAlias: (alias) =>
        Effect.sync(() => {
          lookups.push(alias)
          return directory[alias]
        }),
      readRoom: (roomId) => {
        const room = rooms[roomId]
        return room?.botJoined === true
          ? Effect.succeed(roomState(roomId, room))
          : Effect.fail(
              new Forbidden({
                endpoint: "GET /rooms/{roomId}/state",
                errcode: "M_FORBIDDEN",
                message: `User ${memoryBot} not in room ${roomId}`,
              }),
            )
      },
      createRoom: () => writes("createRoom"),
      sendState: () => writes("sendState"),
      addAlias: () => writes("addAlias"),
      removeAlias: () => writes("removeAlias"),
      invite: () => writes("invite"),
      joinAs: () => writes("joinAs"),
      kick: () => writes("kick"),
      pingAppservice: () => writes("pingAppservice"),
    }),
  )
  return { layer, lookups }
}
