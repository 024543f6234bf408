import type { ActualMember, ActualRoom, Membership } from "@openmeet-reconciler/core"
import { describeWithoutValuesInline, isRecord } from "@openmeet-reconciler/core"
import { Either, Schema } from "effect"

const StateEvent = Schema.Struct({
  type: Schema.String,
  state_key: Schema.String,
  sender: Schema.String,
  content: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
})

const StateEvents = Schema.Array(StateEvent)

const memberships: ReadonlyArray<string> = ["join", "invite", "leave", "ban", "knock"]
const isMembership = (value: unknown): value is Membership => typeof value === "string" && memberships.includes(value)

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/** Builds the actual room from `GET /rooms/{roomId}/state` (one request gives all of it). */
export const decodeRoomState = (roomId: string, body: unknown): Either.Either<ActualRoom, string> =>
  Schema.decodeUnknownEither(StateEvents)(body).pipe(
    // Without the values: state holds what users wrote, and a value too deep to print must not throw.
    Either.mapLeft(describeWithoutValuesInline),
    Either.map((events) => {
      const members = new Map<string, ActualMember>()
      const state = new Map<string, Readonly<Record<string, unknown>>>()
      let creator = ""
      for (const event of events) {
        if (event.type === "m.room.member") {
          const membership = event.content.membership
          if (isMembership(membership)) {
            members.set(event.state_key, { userId: event.state_key, membership, sender: event.sender })
          }
        } else if (event.state_key === "") {
          state.set(event.type, event.content)
          if (event.type === "m.room.create") creator = event.sender
        }
      }
      const create = state.get("m.room.create") ?? {}
      const additional = Array.isArray(create.additional_creators)
        ? create.additional_creators.filter((id): id is string => typeof id === "string")
        : []
      const aliasContent = state.get("m.room.canonical_alias") ?? {}
      const altAliases = Array.isArray(aliasContent.alt_aliases)
        ? aliasContent.alt_aliases.filter((alias): alias is string => typeof alias === "string")
        : []
      const powerLevels = state.get("m.room.power_levels")
      return {
        roomId,
        // A create event without room_version is a version 1 room.
        roomVersion: text(create.room_version) ?? "1",
        creators: creator === "" ? additional : [creator, ...additional],
        members,
        powerLevels: isRecord(powerLevels) ? powerLevels : {},
        name: text(state.get("m.room.name")?.name),
        joinRule: text(state.get("m.room.join_rules")?.join_rule),
        historyVisibility: text(state.get("m.room.history_visibility")?.history_visibility),
        guestAccess: text(state.get("m.room.guest_access")?.guest_access),
        canonicalAlias: text(aliasContent.alias),
        altAliases,
        encrypted: state.has("m.room.encryption"),
        successor: text(state.get("m.room.tombstone")?.replacement_room),
      } satisfies ActualRoom
    }),
  )
