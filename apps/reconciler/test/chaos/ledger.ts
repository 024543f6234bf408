/**
 * What the reconciler did, from two sides that must agree: the writes the homeserver
 * accepted (seen by a homeserverTap in front of it) and the audit log. Each is reduced to
 * signatures, `<key> <action> [<user>]`, so a test can tell a write that landed twice, a
 * write without its audit row, and an audit row claiming a write that never landed.
 */
import { SqlClient } from "@effect/sql"
import type { TappedRequest } from "@openmeet-reconciler/testing"
import type { ManagedRuntime } from "effect"
import { Effect, Schema } from "effect"

export const AuditRow = Schema.Struct({
  id: Schema.Union(Schema.Number, Schema.String),
  key: Schema.String,
  action: Schema.String,
  detail: Schema.Unknown,
  result: Schema.String,
  writer: Schema.NullOr(Schema.String),
})
export type AuditRow = typeof AuditRow.Type

/** Every audit row of a schema, oldest first. */
export const auditRows = (db: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient, unknown>, schema: string) =>
  db.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql.unsafe(
        `SELECT id, key, action, detail, result, writer FROM "${schema}".audit_log ORDER BY id`,
      )
      return yield* Schema.decodeUnknown(Schema.Array(AuditRow))(rows)
    }),
  )

const stateActions: Record<string, string> = {
  "m.room.name": "set_name",
  "m.room.join_rules": "set_join_rule",
  "m.room.history_visibility": "set_history_visibility",
  "m.room.guest_access": "set_guest_access",
  "m.room.canonical_alias": "set_canonical_alias",
  "m.room.power_levels": "power_levels",
}

/** The action kinds that write power levels, as one (the homeserver sees one event type). */
const normalized = (action: string): string =>
  action === "set_power_levels" || action === "archive" || action === "unarchive" ? "power_levels" : action

const field = (value: unknown, name: string): string | undefined => {
  const found: unknown = typeof value === "object" && value !== null ? Reflect.get(value, name) : undefined
  return typeof found === "string" ? found : undefined
}

/**
 * The signatures of the writes a homeserver accepted (status 200), whether or not the
 * reconciler heard the answer. `keyOfAlias` and `keyOfRoom` tie them to room keys.
 */
export const landedWrites = (
  log: ReadonlyArray<TappedRequest>,
  keyOfAlias: (aliasLocalpart: string) => string | undefined,
  keyOfRoom: (roomId: string) => string | undefined,
): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const entry of log) {
    if (entry.status !== 200 || entry.method === "GET") continue
    if (entry.path === "/_matrix/client/v3/createRoom") {
      const key = keyOfAlias(field(entry.body, "room_alias_name") ?? "") ?? "?"
      out.push(`${key} create_room`)
      const invites: unknown =
        typeof entry.body === "object" && entry.body !== null ? Reflect.get(entry.body, "invite") : []
      for (const user of Array.isArray(invites) ? invites : []) out.push(`${key} invite ${String(user)}`)
      continue
    }
    const room = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/(state\/([^/]+)\/?|invite|kick)$/.exec(entry.path)
    if (room !== null) {
      const key = keyOfRoom(room[1] ?? "") ?? "?"
      if (room[3] !== undefined) out.push(`${key} ${stateActions[room[3]] ?? room[3]}`)
      else out.push(`${key} ${room[2]} ${field(entry.body, "user_id") ?? ""}`)
      continue
    }
    const alias = /^\/_matrix\/client\/v3\/directory\/room\/(.+)$/.exec(entry.path)
    if (alias !== null && entry.method === "PUT") {
      out.push(`${keyOfRoom(field(entry.body, "room_id") ?? "") ?? "?"} add_alias`)
    }
  }
  return out
}

/** An audit row's signature, comparable with `landedWrites`. */
export const auditSignature = (row: AuditRow): string => {
  const user = field(row.detail, "user")
  return `${row.key} ${normalized(row.action)}${user === undefined ? "" : ` ${user}`}`
}

export interface LedgerCheck {
  /** Writes that landed more than once. */
  readonly landedTwice: ReadonlyArray<string>
  /** Writes that landed with no audit row saying applied (or interrupted: the process died before the answer). */
  readonly unaudited: ReadonlyArray<string>
  /** Writes with more than one `applied` row. */
  readonly auditedTwice: ReadonlyArray<string>
  /** `applied` rows for writes the homeserver never accepted. */
  readonly claimedNotLanded: ReadonlyArray<string>
  /** Rows still `started`: nobody closed them. */
  readonly open: ReadonlyArray<string>
}

const counts = (items: ReadonlyArray<string>) => {
  const map = new Map<string, number>()
  for (const item of items) map.set(item, (map.get(item) ?? 0) + 1)
  return map
}

/** Compares the writes that landed with the audit log: every write once, every row true. */
export const checkLedger = (landed: ReadonlyArray<string>, rows: ReadonlyArray<AuditRow>): LedgerCheck => {
  const landedCount = counts(landed)
  const applied = counts(rows.filter((r) => r.result === "applied").map(auditSignature))
  const interrupted = counts(rows.filter((r) => r.result === "interrupted").map(auditSignature))
  return {
    landedTwice: [...landedCount].filter(([, n]) => n > 1).map(([s]) => s),
    unaudited: [...landedCount.keys()].filter((s) => (applied.get(s) ?? 0) === 0 && (interrupted.get(s) ?? 0) === 0),
    auditedTwice: [...applied].filter(([, n]) => n > 1).map(([s]) => s),
    claimedNotLanded: [...applied.keys()].filter((s) => !landedCount.has(s)),
    open: rows.filter((r) => r.result === "started").map(auditSignature),
  }
}
