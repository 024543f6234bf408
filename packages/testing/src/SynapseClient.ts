import { Schema } from "effect"
import type { TestServices } from "./Services.ts"

const Content = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** A Matrix state event as the client API returns it. */
const StateEvent = Schema.Struct({
  type: Schema.String,
  state_key: Schema.String,
  sender: Schema.String,
  content: Content,
})
export type StateEvent = typeof StateEvent.Type

const decodeState = Schema.decodeUnknownSync(Schema.Array(StateEvent))
const decodeContent = Schema.decodeUnknownSync(Content)
const decodeRoomId = Schema.decodeUnknownSync(Schema.Struct({ room_id: Schema.String }))
const decodeJoined = Schema.decodeUnknownSync(Schema.Struct({ joined_rooms: Schema.Array(Schema.String) }))

/**
 * Talks to Synapse directly with the appservice token, independently of the code under
 * test: tests use it to set up starting states and to read back what Synapse says.
 */
export const synapseClient = (services: TestServices) => {
  const call = async (method: string, path: string, body?: unknown, asUser?: string): Promise<unknown> => {
    const url = new URL(path, services.homeserverUrl)
    if (asUser !== undefined) url.searchParams.set("user_id", asUser)
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${services.asToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const json: unknown = await response.json()
    if (!response.ok) throw new Error(`${method} ${path} -> ${response.status} ${JSON.stringify(json)}`)
    return json
  }
  const room = (roomId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`
  const self = {
    call,
    /** Registers a user in the appservice's namespace (idempotent). */
    register: async (localpart: string): Promise<string> => {
      try {
        await call("POST", "/_matrix/client/v3/register", {
          type: "m.login.application_service",
          username: localpart,
          inhibit_login: true,
        })
      } catch (error) {
        if (!String(error).includes("M_USER_IN_USE")) throw error
      }
      return `@${localpart}:${services.serverName}`
    },
    joinAs: (userId: string, roomIdOrAlias: string) =>
      call("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomIdOrAlias)}`, {}, userId),
    leaveAs: (userId: string, roomId: string) => call("POST", `${room(roomId)}/leave`, {}, userId),
    inviteAs: (sender: string, roomId: string, userId: string) =>
      call("POST", `${room(roomId)}/invite`, { user_id: userId }, sender),
    kickAs: (sender: string, roomId: string, userId: string) =>
      call("POST", `${room(roomId)}/kick`, { user_id: userId }, sender),
    resolveAlias: async (alias: string): Promise<string | undefined> => {
      try {
        return decodeRoomId(await call("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`)).room_id
      } catch (error) {
        if (String(error).includes("M_NOT_FOUND")) return undefined
        throw error
      }
    },
    state: async (roomId: string): Promise<ReadonlyArray<StateEvent>> =>
      decodeState(await call("GET", `${room(roomId)}/state`)),
    /** userId → membership, as Synapse reports it. */
    memberships: async (roomId: string): Promise<Record<string, string>> => {
      const events = await self.state(roomId)
      return Object.fromEntries(
        events.filter((e) => e.type === "m.room.member").map((e) => [e.state_key, String(e.content.membership)]),
      )
    },
    powerLevels: async (roomId: string): Promise<Readonly<Record<string, unknown>>> =>
      decodeContent(await call("GET", `${room(roomId)}/state/m.room.power_levels/`)),
    setPowerLevels: (roomId: string, content: Record<string, unknown>, asUser?: string) =>
      call("PUT", `${room(roomId)}/state/m.room.power_levels/`, content, asUser),
    joinedRooms: async (): Promise<ReadonlyArray<string>> =>
      decodeJoined(await call("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms,
  }
  return self
}

export type SynapseClient = ReturnType<typeof synapseClient>
