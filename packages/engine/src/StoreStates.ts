import type { SqlClient } from "@effect/sql"
import type { CachedState } from "@openmeet-reconciler/matrix"
import { Effect, Either, Schema } from "effect"
import { leaderLockName } from "./Leader.ts"
import { persistRoom, restoreRoom } from "./PersistedRoom.ts"

/** A state to persist, with the token taken as its read began and how long it may be trusted. */
export interface StateToSave extends CachedState {
  readonly token: bigint
  readonly maxAgeMs: number
}

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
        // Newest read of each room only: an upsert may not touch one row twice.
        const latest = new Map<string, StateToSave>()
        for (const state of states) {
          const seen = latest.get(state.roomId)
          if (seen === undefined || seen.token <= state.token) latest.set(state.roomId, state)
        }
        const rows = [...latest.values()]
        yield* sql`INSERT INTO ${t("room_states")} (room_id, bot, version, state, read_at, expires_at)
          SELECT room_id, bot, version, state::jsonb, to_timestamp(at / 1000.0), to_timestamp((at + max_age) / 1000.0)
          FROM unnest(${sql`${rows.map((r) => r.roomId)}::text[]`}, ${sql`${rows.map((r) => r.bot)}::text[]`},
                      ${sql`${rows.map((r) => r.token.toString())}::bigint[]`},
                      ${sql`${rows.map((r) => JSON.stringify(persistRoom(r.room)))}::text[]`},
                      ${sql`${rows.map((r) => r.at)}::float8[]`}, ${sql`${rows.map((r) => r.maxAgeMs)}::float8[]`})
            AS s(room_id, bot, version, state, at, max_age)
          ON CONFLICT (room_id) DO UPDATE SET bot = EXCLUDED.bot, version = EXCLUDED.version, state = EXCLUDED.state,
            read_at = EXCLUDED.read_at, expires_at = EXCLUDED.expires_at
          WHERE ${t("room_states")}.version <= EXCLUDED.version`
      }),
    /**
     * Whether a leader keeps the persisted states fresh now (holds the leader lock, so it
     * accepts transactions): only then may a CLI pass trust them.
     */
    statesMaintained: Effect.gen(function* () {
      const rows = yield* sql<{ held: boolean }>`WITH k AS (SELECT hashtext(${leaderLockName(schema)})::bigint AS key)
        SELECT EXISTS (SELECT 1 FROM pg_locks l, k
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.classid::bigint = ((k.key >> 32) & 4294967295) AND l.objid::bigint = (k.key & 4294967295)) AS held`
      return rows[0]?.held === true
    }),
    /** States not yet expired; a row that is not a state is left out (its room is read). */
    loadStates: Effect.gen(function* () {
      if (!(yield* exists)) return { states: [], unreadable: 0 }
      const rows = yield* sql`SELECT room_id AS "roomId", bot, state,
          (extract(epoch FROM read_at) * 1000)::float8 AS at
        FROM ${t("room_states")} WHERE state IS NOT NULL AND expires_at > now()`
      const decoded = yield* Schema.decodeUnknown(Schema.Array(StateRow))(rows)
      const states: Array<CachedState> = []
      let unreadable = 0
      for (const row of decoded) {
        const room = restoreRoom(row.roomId, row.state)
        if (Either.isRight(room)) states.push({ roomId: row.roomId, bot: row.bot, room: room.right, at: row.at })
        else unreadable += 1
      }
      return { states, unreadable }
    }),
  }
}
