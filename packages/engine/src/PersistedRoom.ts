import type { ActualMember, ActualRoom, Membership } from "@openmeet-reconciler/core"
import { isRecord } from "@openmeet-reconciler/core"
import { Either, ParseResult, Schema } from "effect"

/*
 * A room's state as the reconciler's schema keeps it (`room_states.state`): the ActualRoom
 * with its members as `[userId, membership, sender]` and absent texts as null. A leader
 * loads ten thousand of these at once, so a guard equal to the Schema checks each, and
 * the Schema describes only what the guard refuses (test/PersistedRoom.test.ts).
 */

const memberships: ReadonlyArray<Membership> = ["join", "invite", "leave", "ban", "knock"]

const Member = Schema.Tuple(Schema.String, Schema.Literal(...memberships), Schema.String)
const Text = Schema.NullOr(Schema.String)

export const PersistedRoom = Schema.Struct({
  roomVersion: Schema.String,
  creators: Schema.Array(Schema.String),
  members: Schema.Array(Member),
  powerLevels: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  name: Text,
  joinRule: Text,
  historyVisibility: Text,
  guestAccess: Text,
  canonicalAlias: Text,
  altAliases: Schema.Array(Schema.String),
  encrypted: Schema.Boolean,
  successor: Text,
})
export type PersistedRoom = typeof PersistedRoom.Type

const text = (value: unknown): value is string => typeof value === "string"
const textOrNull = (value: unknown): value is string | null => value === null || typeof value === "string"
const texts = (value: unknown): value is ReadonlyArray<string> => Array.isArray(value) && value.every(text)
const isMembership = (value: unknown): value is Membership => memberships.some((m) => m === value)
const isMember = (value: unknown): value is PersistedRoom["members"][number] =>
  Array.isArray(value) && value.length === 3 && text(value[0]) && isMembership(value[1]) && text(value[2])

/** Accepts exactly what `PersistedRoom` accepts. */
export const isPersistedRoom = (value: unknown): value is PersistedRoom =>
  isRecord(value) &&
  text(value.roomVersion) &&
  texts(value.creators) &&
  Array.isArray(value.members) &&
  value.members.every(isMember) &&
  isRecord(value.powerLevels) &&
  !Array.isArray(value.powerLevels) &&
  textOrNull(value.name) &&
  textOrNull(value.joinRule) &&
  textOrNull(value.historyVisibility) &&
  textOrNull(value.guestAccess) &&
  textOrNull(value.canonicalAlias) &&
  texts(value.altAliases) &&
  typeof value.encrypted === "boolean" &&
  textOrNull(value.successor)

const orNull = (value: string | undefined): string | null => value ?? null
const orUndefined = (value: string | null): string | undefined => value ?? undefined

export const persistRoom = (room: ActualRoom): PersistedRoom => ({
  roomVersion: room.roomVersion,
  creators: room.creators,
  members: [...room.members.values()].map((m) => [m.userId, m.membership, m.sender] as const),
  powerLevels: room.powerLevels,
  name: orNull(room.name),
  joinRule: orNull(room.joinRule),
  historyVisibility: orNull(room.historyVisibility),
  guestAccess: orNull(room.guestAccess),
  canonicalAlias: orNull(room.canonicalAlias),
  altAliases: room.altAliases,
  encrypted: room.encrypted,
  successor: orNull(room.successor),
})

/** The room a persisted state describes, or why it is not one. */
export const restoreRoom = (roomId: string, value: unknown): Either.Either<ActualRoom, string> => {
  if (!isPersistedRoom(value)) {
    return Either.left(
      Either.match(Schema.decodeUnknownEither(PersistedRoom)(value), {
        onLeft: (error) => ParseResult.TreeFormatter.formatErrorSync(error),
        onRight: () => "refused by the state check though its Schema accepts it",
      }),
    )
  }
  const members = new Map<string, ActualMember>()
  for (const [userId, membership, sender] of value.members) members.set(userId, { userId, membership, sender })
  return Either.right({
    roomId,
    roomVersion: value.roomVersion,
    creators: value.creators,
    members,
    powerLevels: value.powerLevels,
    name: orUndefined(value.name),
    joinRule: orUndefined(value.joinRule),
    historyVisibility: orUndefined(value.historyVisibility),
    guestAccess: orUndefined(value.guestAccess),
    canonicalAlias: orUndefined(value.canonicalAlias),
    altAliases: value.altAliases,
    encrypted: value.encrypted,
    successor: orUndefined(value.successor),
  })
}
