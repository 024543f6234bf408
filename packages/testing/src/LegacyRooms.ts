import { createHmac } from "node:crypto"
import { Schema } from "effect"
import type { TestServices } from "./Services.ts"
import type { SynapseClient } from "./SynapseClient.ts"

/** How OpenMeet's listeners (or its older bot) made a room: what differs between its creation paths. */
export interface LegacyRoomSpec {
  /** The alias OpenMeet gives it, `#event-<slug>-<tenant>:<server>`; omitted for a room made without one. */
  readonly alias?: string
  readonly name: string
  /** Public or invite: it depended on which code path made the room. */
  readonly joinRule: "public" | "invite"
  /** Levels besides the creator's: OpenMeet gives hosts and owners 100, moderators 50, speakers 25. */
  readonly users?: Readonly<Record<string, number>>
  readonly invite?: ReadonlyArray<string>
  /** Some older private rooms are encrypted. */
  readonly encrypted?: boolean
  /** Who makes it (a user of the appservice's namespace, e.g. `@openmeet-bot-<tenant>:<server>`); default the appservice's sender. */
  readonly creator?: string
  readonly roomVersion?: string
}

const decodeRoomId = Schema.decodeUnknownSync(Schema.Struct({ room_id: Schema.String }))

/**
 * Makes a room the way OpenMeet's listeners make them (guest access forbidden, history
 * shared, its levels with the creator at 100, its invites), as the appservice's sender
 * (`bot`) or as another bot identity. Returns the room id.
 */
export const legacyRoom = async (synapse: SynapseClient, bot: string, spec: LegacyRoomSpec): Promise<string> => {
  const creator = spec.creator ?? bot
  // Room version 12: the creator's power is implicit and may not be listed.
  const creatorEntry = Number.parseInt(spec.roomVersion ?? "11", 10) >= 12 ? {} : { [creator]: 100 }
  const created = await synapse.call(
    "POST",
    "/_matrix/client/v3/createRoom",
    {
      ...(spec.alias === undefined ? {} : { room_alias_name: spec.alias.slice(1, spec.alias.lastIndexOf(":")) }),
      ...(spec.roomVersion === undefined ? {} : { room_version: spec.roomVersion }),
      name: spec.name,
      preset: spec.joinRule === "public" ? "public_chat" : "private_chat",
      invite: spec.invite ?? [],
      initial_state: [
        { type: "m.room.guest_access", state_key: "", content: { guest_access: "forbidden" } },
        { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "shared" } },
        { type: "m.room.join_rules", state_key: "", content: { join_rule: spec.joinRule } },
        ...(spec.encrypted === true
          ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
          : []),
      ],
      power_level_content_override: { users: { ...creatorEntry, ...spec.users } },
    },
    creator,
  )
  return decodeRoomId(created).room_id
}

const decodeNonce = Schema.decodeUnknownSync(Schema.Struct({ nonce: Schema.String }))
const decodeToken = Schema.decodeUnknownSync(Schema.Struct({ access_token: Schema.String, user_id: Schema.String }))

/**
 * Registers a Synapse server admin with the homeserver's registration shared secret
 * (`/_synapse/admin/v1/register`, the HMAC nonce flow) and returns its access token.
 * SYNAPSE_REGISTRATION_SECRET (services.env) holds the secret.
 */
export const registerServerAdmin = async (
  services: TestServices,
  localpart: string,
): Promise<{ readonly userId: string; readonly accessToken: string }> => {
  const secret = process.env.SYNAPSE_REGISTRATION_SECRET
  if (secret === undefined || secret === "") {
    throw new Error(
      "SYNAPSE_REGISTRATION_SECRET is not set: the homeserver's registration_shared_secret (services.env)",
    )
  }
  const url = new URL("/_synapse/admin/v1/register", services.homeserverUrl)
  const { nonce } = decodeNonce(await (await fetch(url)).json())
  const password = `pw-${localpart}-${nonce.slice(0, 8)}`
  const mac = createHmac("sha1", secret).update(`${nonce}\0${localpart}\0${password}\0admin`).digest("hex")
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ nonce, username: localpart, password, admin: true, mac }),
  })
  const body: unknown = await response.json()
  if (!response.ok) throw new Error(`registering server admin ${localpart}: ${response.status} ${JSON.stringify(body)}`)
  const { access_token: accessToken, user_id: userId } = decodeToken(body)
  return { userId, accessToken }
}
