import type { SqlClient } from "@effect/sql"
import type { CachedState, FreeAlias } from "@openmeet-reconciler/matrix"
import { Effect, Either, Schema } from "effect"
import { tenantLockName } from "./LockSession.ts"
import { persistRoom, restoreRoom } from "./PersistedRoom.ts"

/**
 * What the cache kept, to persist: a room's state (keyed by its id) or an alias found free
 * (keyed by the alias, state `{"free": true}`), with the token its read began with and
 * how long it may be trusted.
 */
export type StateToSave = (
  | { readonly kind: "room"; readonly state: CachedState }
  | { readonly kind: "alias"; readonly free: FreeAlias }
) & { readonly token: bigint; readonly maxAgeMs: number }

const keyOf = (item: StateToSave) => (item.kind === "room" ? item.state.roomId : item.free.alias)
const FreeRow = Schema.Struct({ free: Schema.Literal(true) })

const StateRow = Schema.Struct({
  roomId: Schema.String,
  bot: Schema.String,
  state: Schema.Unknown,
  at: Schema.Number,
})

/**
 * The persisted state cache (`room_states`), whose rule is: no state is written over an
 * invalidation newer than its read. Invalidations take the next value of a sequence; a
 * state is written with the last value handed out before its read began (its token) and
 * only over a row whose version is not newer. Whoever accepts a transaction invalidates
 * the rooms it names first, so every state kept is as fresh as the transactions accepted.
 */
export const stateOperations = (sql: SqlClient.SqlClient, schema: string, exists: Effect.Effect<boolean, unknown>) => {
  const t = (name: string) => sql(`${schema}.${name}`)
  const sequence = `${schema}.room_state_version`
  return {
    /** Returns the highest version written (0 when none). */
    invalidateStates: (roomIds: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (roomIds.length === 0 || !(yield* exists)) return 0n
        // One row per room: an upsert may not touch one row twice.
        const rows = yield* sql<{ version: string | null }>`WITH written AS (
            INSERT INTO ${t("room_states")} (room_id, version)
            SELECT room_id, nextval(${sequence}) FROM unnest(${sql`${[...new Set(roomIds)]}::text[]`}) AS room_id
            ON CONFLICT (room_id) DO UPDATE SET version = EXCLUDED.version, state = NULL
            RETURNING version)
          SELECT max(version)::text AS version FROM written`
        return BigInt(rows[0]?.version ?? "0")
      }),
    stateToken: Effect.gen(function* () {
      if (!(yield* exists)) return 0n
      const rows = yield* sql<{ token: string }>`SELECT
          (CASE WHEN is_called THEN last_value ELSE last_value - 1 END)::text AS token
        FROM ${sql(sequence)}`
      return BigInt(rows[0]?.token ?? "0")
    }),
    saveStates: (states: ReadonlyArray<StateToSave>) =>
      Effect.gen(function* () {
        if (states.length === 0 || !(yield* exists)) return
        // Newest read of each key only: an upsert may not touch one row twice.
        const latest = new Map<string, StateToSave>()
        for (const state of states) {
          const seen = latest.get(keyOf(state))
          if (seen === undefined || seen.token <= state.token) latest.set(keyOf(state), state)
        }
        const rows = [...latest.values()].map((item) => ({
          key: keyOf(item),
          bot: item.kind === "room" ? item.state.bot : "",
          state: JSON.stringify(item.kind === "room" ? persistRoom(item.state.room) : { free: true }),
          at: item.kind === "room" ? item.state.at : item.free.at,
          token: item.token,
          maxAgeMs: item.maxAgeMs,
        }))
        yield* sql`INSERT INTO ${t("room_states")} (room_id, bot, version, state, read_at, expires_at)
          SELECT room_id, bot, version, state::jsonb, to_timestamp(at / 1000.0), to_timestamp((at + max_age) / 1000.0)
          FROM unnest(${sql`${rows.map((r) => r.key)}::text[]`}, ${sql`${rows.map((r) => r.bot)}::text[]`},
                      ${sql`${rows.map((r) => r.token.toString())}::bigint[]`},
                      ${sql`${rows.map((r) => r.state)}::text[]`},
                      ${sql`${rows.map((r) => r.at)}::float8[]`}, ${sql`${rows.map((r) => r.maxAgeMs)}::float8[]`})
            AS s(room_id, bot, version, state, at, max_age)
          ON CONFLICT (room_id) DO UPDATE SET bot = EXCLUDED.bot, version = EXCLUDED.version, state = EXCLUDED.state,
            read_at = EXCLUDED.read_at, expires_at = EXCLUDED.expires_at
          WHERE ${t("room_states")}.version <= EXCLUDED.version`
      }),
    /**
     * Whether leaders keep the persisted states of these tenants fresh now (each tenant's
     * leader lock is held, so its daemon runs and accepts transactions, and every replica
     * invalidates what they change): only then may a CLI pass trust them.
     */
    statesMaintained: (tenants: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (tenants.length === 0) return false
        const names = tenants.map((tenant) => tenantLockName(schema, tenant))
        const rows = yield* sql<{
          held: number
        }>`SELECT count(*)::int AS held FROM unnest(${sql`${names}::text[]`}) AS n
          WHERE EXISTS (SELECT 1 FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid::bigint = ((hashtext(n)::bigint >> 32) & 4294967295)
              AND l.objid::bigint = (hashtext(n)::bigint & 4294967295))`
        return rows[0]?.held === names.length
      }),
    /** States and free aliases not yet expired; a row that is neither is left out (read from Matrix). */
    loadStates: Effect.gen(function* () {
      const none = { states: [], freeAliases: [], unreadable: 0 }
      if (!(yield* exists)) return none
      const rows = yield* sql`SELECT room_id AS "roomId", bot, state,
          (extract(epoch FROM read_at) * 1000)::float8 AS at
        FROM ${t("room_states")} WHERE state IS NOT NULL AND expires_at > now()`
      const decoded = yield* Schema.decodeUnknown(Schema.Array(StateRow))(rows)
      const states: Array<CachedState> = []
      const freeAliases: Array<FreeAlias> = []
      let unreadable = 0
      const isFree = Schema.is(FreeRow)
      for (const row of decoded) {
        if (row.roomId.startsWith("#")) {
          if (isFree(row.state)) freeAliases.push({ alias: row.roomId, at: row.at })
          else unreadable += 1
          continue
        }
        const room = restoreRoom(row.roomId, row.state)
        if (Either.isRight(room)) states.push({ roomId: row.roomId, bot: row.bot, room: room.right, at: row.at })
        else unreadable += 1
      }
      return { states, freeAliases, unreadable }
    }),
  }
}
