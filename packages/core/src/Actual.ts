export type Membership = "join" | "invite" | "leave" | "ban" | "knock"

/** A user's current membership and who set it (the sender of the m.room.member event). */
export interface ActualMember {
  readonly userId: string
  readonly membership: Membership
  readonly sender: string
}

/** The content of m.room.power_levels as found; unknown keys are kept verbatim. */
export type PowerLevelsContent = Readonly<Record<string, unknown>>

/** What Matrix currently says about one room, as the bot sees it. */
export interface ActualRoom {
  readonly roomId: string
  readonly roomVersion: string
  /** Room version 12+: creators have unlimited power and are not in `users`. */
  readonly creators: ReadonlyArray<string>
  readonly members: ReadonlyMap<string, ActualMember>
  readonly powerLevels: PowerLevelsContent
  readonly name: string | undefined
  readonly joinRule: string | undefined
  readonly historyVisibility: string | undefined
  readonly guestAccess: string | undefined
  readonly canonicalAlias: string | undefined
  readonly altAliases: ReadonlyArray<string>
  readonly encrypted: boolean
  /** The room that replaced this one (`m.room.tombstone`'s `replacement_room`), after an upgrade. */
  readonly successor: string | undefined
}

/** Room versions in which creators hold unlimited power (MSC4289, room version 12). */
export const creatorsHaveInfinitePower = (roomVersion: string): boolean => {
  const major = Number.parseInt(roomVersion, 10)
  return Number.isFinite(major) && major >= 12
}
