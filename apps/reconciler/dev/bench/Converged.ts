/**
 * A homeserver stand-in for the in-process benchmarks: every room of a desired state
 * exists, converged (members invited at their levels, settings as desired), and every read
 * is answered at once from memory. It measures what the reconciler costs around Matrix,
 * not Matrix; the Synapse scenarios measure that.
 */
import { deserialize, serialize } from "node:v8"
import type { ActualMember, ActualRoom, DesiredOutcome, DesiredRoom } from "@openmeet-reconciler/core"
import { archivedEventsDefault } from "@openmeet-reconciler/core"
import type { MatrixService } from "@openmeet-reconciler/matrix"
import { Effect } from "effect"

const powerLevels = (users: Readonly<Record<string, number>>, archived: boolean) => ({
  ban: 50,
  kick: 50,
  invite: 0,
  redact: 50,
  events_default: archived ? archivedEventsDefault : 0,
  state_default: 50,
  users_default: 0,
  notifications: { room: 50 },
  events: {},
  users,
})

/** The room a desired room has once the reconciler made it. */
export const convergedRoom = (room: DesiredRoom, roomId: string, bot: string): ActualRoom => {
  const members = new Map<string, ActualMember>([[bot, { userId: bot, membership: "join", sender: bot }]])
  const users: Record<string, number> = { [bot]: 100 }
  for (const member of room.members.values()) {
    members.set(member.userId, { userId: member.userId, membership: "invite", sender: bot })
    if (member.level !== 0) users[member.userId] = member.level
  }
  return {
    roomId,
    roomVersion: "10",
    creators: [bot],
    members,
    powerLevels: powerLevels(users, room.archived),
    name: room.name,
    joinRule: room.joinRule,
    historyVisibility: room.historyVisibility,
    guestAccess: room.guestAccess,
    canonicalAlias: room.alias,
    altAliases: [],
    encrypted: false,
    successor: undefined,
  }
}

/** The rooms of these outcomes that would exist (published, or already made), converged. */
export const convergedRooms = (outcomes: ReadonlyArray<DesiredOutcome>, bot: string) => {
  const byAlias = new Map<string, string>()
  const rooms = new Map<string, ActualRoom>()
  for (const outcome of outcomes) {
    if (outcome._tag !== "Desired" || !outcome.room.mayCreate) continue
    const roomId = `!${outcome.room.key.kind}${outcome.room.key.entityId}-${outcome.room.key.tenant}:bench`
    byAlias.set(outcome.room.alias, roomId)
    rooms.set(roomId, convergedRoom(outcome.room, roomId, bot))
  }
  return { byAlias, rooms }
}

/** A homeserver that holds these rooms and answers every read at once; it writes nothing. */
export const inMemoryHomeserver = (
  bot: string,
  state: { readonly byAlias: ReadonlyMap<string, string>; readonly rooms: ReadonlyMap<string, ActualRoom> },
  count: () => void = () => {},
): MatrixService => {
  const refuse = () => Effect.die(new Error("the in-memory homeserver takes no writes"))
  return {
    botUserId: bot,
    defaultRoomVersion: Effect.succeed("10"),
    joinedRooms: Effect.sync(() => {
      count()
      return new Set(state.rooms.keys())
    }),
    resolveAlias: (alias) =>
      Effect.sync(() => {
        count()
        return state.byAlias.get(alias)
      }),
    readRoom: (roomId) =>
      Effect.suspend(() => {
        count()
        const room = state.rooms.get(roomId)
        return room === undefined ? Effect.die(new Error(`no room ${roomId}`)) : Effect.succeed(room)
      }),
    createRoom: refuse,
    sendState: refuse,
    addAlias: refuse,
    removeAlias: refuse,
    invite: refuse,
    joinAs: refuse,
    kick: refuse,
    pingAppservice: () => Effect.void,
  }
}

/**
 * The converged rooms as a homeserver whose answers are parsed anew: each room is kept
 * serialized, outside the JS heap, and every read returns a fresh copy, as a response
 * parsed from JSON would be. What is on the heap is then the reader's own (a state cache
 * measured per room, a pass in a process of its own), not the stand-in's.
 */
export const freshCopiesHomeserver = (
  bot: string,
  state: { readonly byAlias: ReadonlyMap<string, string>; readonly rooms: ReadonlyMap<string, ActualRoom> },
): { readonly matrix: MatrixService; readonly storedBytes: number } => {
  const stored = new Map([...state.rooms].map(([roomId, room]) => [roomId, serialize(room)] as const))
  const matrix: MatrixService = {
    ...inMemoryHomeserver(bot, { byAlias: state.byAlias, rooms: new Map() }),
    joinedRooms: Effect.sync(() => new Set(stored.keys())),
    readRoom: (roomId) =>
      Effect.suspend(() => {
        const bytes = stored.get(roomId)
        return bytes === undefined ? Effect.die(new Error(`no room ${roomId}`)) : Effect.succeed(deserialize(bytes))
      }),
  }
  // Resident, though not on the heap: a process's RSS holds them besides its own data.
  return { matrix, storedBytes: [...stored.values()].reduce((n, bytes) => n + bytes.byteLength, 0) }
}
