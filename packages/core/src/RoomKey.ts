import { Either } from "effect"

/** The kinds of OpenMeet entity that own a Matrix room. */
export type EntityKind = "event" | "group"

/** An entity's kind, or `orphan`: a room in our alias namespace whose entity is gone (keyed by room id). */
export type RoomKind = EntityKind | "orphan"

/** Identifies a managed room by what owns it; slugs change, ids do not. */
export interface RoomKey {
  readonly tenant: string
  readonly kind: RoomKind
  readonly entityId: string
}

export const roomKey = (tenant: string, kind: RoomKind, entityId: string): RoomKey => ({ tenant, kind, entityId })

/** `event:<tenant>:<id>`, the text form used in plans, logs and the CLI. */
export const formatRoomKey = (key: RoomKey): string => `${key.kind}:${key.tenant}:${key.entityId}`

/** Parses `event:<tenant>:<id>` / `group:<tenant>:<id>`; the tenant may be empty. */
export const parseRoomKey = (text: string): Either.Either<RoomKey, string> => {
  const match = /^(event|group):([^:-]*):([0-9]+)$/.exec(text)
  if (match === null) {
    return Either.left(`"${text}" is not a room key; expected event:<tenant>:<id> or group:<tenant>:<id>`)
  }
  // Stryker disable next-line StringLiteral: equivalent, every group of the pattern takes part in a match, so these defaults never apply
  const [, kind, tenant = "", entityId = ""] = match
  // OpenMeet's ids are `serial`: a larger number is no row, and would fail any query it is in.
  if (entityId.length > 10 || Number(entityId) > 2_147_483_647) {
    return Either.left(`"${text}": the id is larger than any OpenMeet id can be (2147483647)`)
  }
  return Either.right(roomKey(tenant, kind === "group" ? "group" : "event", entityId))
}

/** The canonical alias OpenMeet gives an entity's room: `#event-<slug>-<tenant>:<server>`. */
export const roomAlias = (kind: EntityKind, slug: string, tenant: string, serverName: string): string =>
  `#${kind}-${slug}-${tenant}:${serverName}`

/**
 * The tenant an alias of our namespace belongs to: `#event-<slug>-<tenant>:<server>`.
 * Tenant ids contain no `-`, so the tenant is what follows the last one.
 */
export const aliasTenant = (alias: string, serverName: string): string | undefined => {
  const match = /^#(?:event|group)-.*-([A-Za-z0-9_]*):(.+)$/.exec(alias)
  return match !== null && match[2] === serverName ? match[1] : undefined
}

/** Why a slug cannot become an alias, if it cannot (slugs are not sanitised by OpenMeet). */
export const aliasProblem = (alias: string): string | undefined => {
  if (/\s/.test(alias)) return `alias ${JSON.stringify(alias)} contains white space`
  const localpart = alias.slice(1, alias.lastIndexOf(":"))
  if (localpart.includes(":")) return `alias ${JSON.stringify(alias)} contains ':' in its local part`
  if (alias.length > 255) return `alias ${JSON.stringify(alias)} is longer than 255 characters`
  return undefined
}

/** What an alias of our namespace names: `#<kind>-<slug>-<tenant>:<server>` on `serverName`. */
export const parseAlias = (
  alias: string,
  serverName: string,
): { readonly kind: EntityKind; readonly slug: string; readonly tenant: string } | undefined => {
  const match = /^#(event|group)-(.+)-([A-Za-z0-9_]*):(.+)$/.exec(alias)
  if (match === null || match[4] !== serverName) return undefined
  // Stryker disable next-line StringLiteral: equivalent, every group of the pattern takes part in a match, so these defaults never apply
  const [, kind, slug = "", tenant = ""] = match
  return { kind: kind === "group" ? "group" : "event", slug, tenant }
}
