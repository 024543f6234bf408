import { hostname } from "node:os"
import { SqlClient } from "@effect/sql"
import type { RoomKey, RoomPlan } from "@openmeet-reconciler/core"
import { formatRoomKey, timed } from "@openmeet-reconciler/core"
import type { CachedState, FreeAlias } from "@openmeet-reconciler/matrix"
import { describeSqlError } from "@openmeet-reconciler/openmeet"
import { Context, Data, Effect, Layer, Option, Schema } from "effect"
import { auditOperations } from "./StoreAudit.ts"
import { migrateSchema } from "./StoreMigrate.ts"
import type { AuditEntry, AuditResult, RoomRecord, StatusReport } from "./StoreSchema.ts"
import { AttentionRow, CountRow, KeyOfRoomRow, PassRow, RecordRow } from "./StoreSchema.ts"
import type { StateToSave } from "./StoreStates.ts"
import { stateOperations } from "./StoreStates.ts"

/** The reconciler's own tables could not be read or written. */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: string
  readonly message: string
}> {}

/** The reconciler's own tables (RECONCILER_SCHEMA): room records, status, the audit log. */
export class Store extends Context.Tag("@openmeet-reconciler/engine/Store")<
  Store,
  {
    readonly schema: string
    /** Creates or upgrades the schema; idempotent, safe with several replicas starting at once. */
    readonly migrate: Effect.Effect<void, StoreError>
    /** Room records of these tenants (only of `keys` when given); none before the schema exists. */
    readonly roomRecords: (
      tenants: ReadonlyArray<string>,
      keys?: ReadonlyArray<string>,
    ) => Effect.Effect<ReadonlyMap<string, RoomRecord>, StoreError>
    /** Remembers the room of a key and the alias it has now. */
    readonly recordRoom: (key: RoomKey, roomId: string, alias: string | undefined) => Effect.Effect<void, StoreError>
    /** The key each of these rooms is recorded for, by room id (orphans included). */
    readonly keysOfRooms: (roomIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, string>, StoreError>
    /**
     * Which of these rooms the reconciler archived itself (its last archive or unarchive
     * applied, or perhaps applied by a process that died, was an archive).
     */
    readonly archivedByReconciler: (roomIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, StoreError>
    /**
     * The outcome of each room's latest pass: its status and conditions. Keys of
     * `completeTenants` that the pass did not see (`planned`, by default the keys of `rooms`)
     * are no longer managed: their status is cleared.
     */
    readonly recordStatus: (
      rooms: ReadonlyArray<RoomPlan>,
      completeTenants: ReadonlyArray<string>,
      planned?: ReadonlyArray<string>,
    ) => Effect.Effect<void, StoreError>
    readonly audit: (entries: ReadonlyArray<AuditEntry>) => Effect.Effect<void, StoreError>
    /**
     * Writes the rows of actions about to be sent, as `started` (written ahead: a process
     * killed before the homeserver's answer leaves them open, never missing); their ids.
     */
    readonly auditStart: (entries: ReadonlyArray<AuditEntry>) => Effect.Effect<ReadonlyArray<string>, StoreError>
    /** Closes rows `auditStart` wrote with what happened. */
    readonly auditFinish: (
      outcomes: ReadonlyArray<{
        readonly id: string
        readonly result: AuditResult
        readonly error: string | undefined
      }>,
    ) => Effect.Effect<void, StoreError>
    /**
     * Closes the rows a process that died left `started`, as `interrupted` (the homeserver
     * may or may not have applied them; the next plan redoes what did not land). Only the
     * rows of these tenants: called by whoever just took their leader locks, their only
     * writer now (other tenants' leaders may be mid-request). How many it closed.
     */
    readonly closeInterrupted: (tenants: ReadonlyArray<string>) => Effect.Effect<number, StoreError>
    /** A standby refused a transaction naming these rooms (the homeserver sends it again later): tell the leader now. */
    readonly relayRooms: (roomIds: ReadonlyArray<string>) => Effect.Effect<void, StoreError>
    /** The rooms of these tenants that other replicas relayed since the last call (each returned once). */
    readonly takeRelayed: (tenants: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, StoreError>

    readonly recordPass: (pass: {
      readonly startedAt: Date
      readonly rooms: number
      readonly applied: number
      readonly failed: number
    }) => Effect.Effect<void, StoreError>
    readonly status: Effect.Effect<StatusReport, StoreError>
    /** Marks persisted states stale (room ids, aliases: `staleKeys`) before a transaction is accepted; the highest version. */
    readonly invalidateStates: (roomIds: ReadonlyArray<string>) => Effect.Effect<bigint, StoreError>
    /** Taken as a read begins: every invalidation written after it has a higher version. */
    readonly stateToken: Effect.Effect<bigint, StoreError>
    /** Persists states read, except over an invalidation newer than their read (StoreStates.ts). */
    readonly saveStates: (states: ReadonlyArray<StateToSave>) => Effect.Effect<void, StoreError>
    /** Whether leaders keep the persisted states of these tenants fresh right now (each tenant's leader lock is held). */
    readonly statesMaintained: (tenants: ReadonlyArray<string>) => Effect.Effect<boolean, StoreError>
    /** The persisted states and free aliases not yet expired, and how many rows could not be read back. */
    readonly loadStates: Effect.Effect<
      {
        readonly states: ReadonlyArray<CachedState>
        readonly freeAliases: ReadonlyArray<FreeAlias>
        readonly unreadable: number
      },
      StoreError
    >
  }
>() {
  /** Over the SqlClient in context, in `schema`; audit rows name `writer` (default host/pid). */
  static readonly layer = (schema: string, writer = `${hostname()}/${process.pid}`) =>
    Layer.effect(Store, make(schema, writer))
}

const reads = [
  "roomRecords",
  "status",
  "keysOfRooms",
  "archivedByReconciler",
  "stateToken",
  "loadStates",
  "statesMaintained",
]
const readOperations = new Set(reads)

const make = (schema: string, writer: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const s = `"${schema.replaceAll('"', '""')}"`
    const t = (name: string) => sql(`${schema}.${name}`)
    const wrap =
      (operation: string) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(
          Effect.mapError((error) => new StoreError({ operation, message: describeSqlError(error) })),
          timed(readOperations.has(operation) ? "store_read" : "store_write"),
          Effect.withSpan(`Store.${operation}`),
        )
    const present = (table: string) =>
      sql<{ present: boolean }>`SELECT to_regclass(${`${s}.${table}`}) IS NOT NULL AS present`.pipe(
        Effect.map((rows) => rows[0]?.present === true),
      )
    const exists = present("rooms")

    const migrate = migrateSchema(sql, schema).pipe(wrap("migrate"))

    const states = stateOperations(sql, schema, present("room_states"))
    const audits = auditOperations(sql, schema, writer, exists)
    return Store.of({
      schema,
      migrate,
      invalidateStates: (roomIds) => states.invalidateStates(roomIds).pipe(wrap("invalidateStates")),
      stateToken: states.stateToken.pipe(wrap("stateToken")),
      saveStates: (rows) => states.saveStates(rows).pipe(wrap("saveStates")),
      loadStates: states.loadStates.pipe(wrap("loadStates")),
      statesMaintained: (tenants) => states.statesMaintained(tenants).pipe(wrap("statesMaintained")),
      roomRecords: (tenants, keys) =>
        Effect.gen(function* () {
          if (!(yield* exists) || tenants.length === 0 || keys?.length === 0) return new Map<string, RoomRecord>()
          const rows = yield* sql`SELECT key, room_id AS "roomId", aliases FROM ${t("rooms")}
            WHERE room_id IS NOT NULL AND tenant = ANY(${sql`${tenants}::text[]`})
              AND ${keys === undefined ? sql`true` : sql`key = ANY(${sql`${keys}::text[]`})`}`
          const records = yield* Schema.decodeUnknown(Schema.Array(RecordRow))(rows)
          return new Map(records.map((r) => [r.key, r]))
        }).pipe(wrap("roomRecords")),
      recordRoom: (key, roomId, alias) =>
        sql`INSERT INTO ${t("rooms")} (key, tenant, kind, entity_id, room_id, aliases)
            VALUES (${formatRoomKey(key)}, ${key.tenant}, ${key.kind}, ${key.entityId}, ${roomId},
                    ${alias === undefined ? sql`'{}'::text[]` : sql`ARRAY[${alias}]::text[]`})
            ON CONFLICT (key) DO UPDATE SET
              room_id = EXCLUDED.room_id,
              aliases = CASE WHEN ${alias ?? null}::text IS NULL OR ${alias ?? null}::text = ANY(${t("rooms")}.aliases)
                             THEN ${t("rooms")}.aliases ELSE ${t("rooms")}.aliases || ${alias ?? null}::text END,
              updated_at = now()`.pipe(Effect.asVoid, wrap("recordRoom")),
      keysOfRooms: (roomIds) =>
        Effect.gen(function* () {
          if (roomIds.length === 0 || !(yield* exists)) return new Map<string, string>()
          const rows = yield* sql`SELECT DISTINCT ON (room_id) room_id AS "roomId", key FROM ${t("rooms")}
            WHERE room_id = ANY(${sql`${roomIds}::text[]`}) ORDER BY room_id, (kind = 'orphan'), updated_at DESC`
          const decoded = yield* Schema.decodeUnknown(Schema.Array(KeyOfRoomRow))(rows)
          return new Map(decoded.map((row) => [row.roomId, row.key]))
        }).pipe(wrap("keysOfRooms")),
      archivedByReconciler: (roomIds) => audits.archivedByReconciler(roomIds).pipe(wrap("archivedByReconciler")),
      recordStatus: (rooms, completeTenants, planned) =>
        Effect.gen(function* () {
          const seen = planned ?? rooms.map((room) => formatRoomKey(room.key))
          if (completeTenants.length > 0) {
            // Array parameters: a pass over more than 65,535 rooms is still one statement.
            yield* sql`UPDATE ${t("rooms")} SET status = NULL, conditions = '[]', updated_at = now()
              WHERE status IS NOT NULL AND tenant = ANY(${sql`${completeTenants}::text[]`})
                AND NOT (key = ANY(${sql`${seen}::text[]`}))`
          }
          // Upserted in batches: a pass over thousands of rooms is a handful of statements.
          for (let i = 0; i < rooms.length; i += 500) {
            const rows = rooms.slice(i, i + 500).map((room) => ({
              key: formatRoomKey(room.key),
              tenant: room.key.tenant,
              kind: room.key.kind,
              entity_id: room.key.entityId,
              room_id: room.roomId ?? null,
              status: room.status,
              conditions: JSON.stringify(room.conditions),
            }))
            yield* sql`INSERT INTO ${t("rooms")} ${sql.insert(rows)}
              ON CONFLICT (key) DO UPDATE SET
                room_id = coalesce(EXCLUDED.room_id, ${t("rooms")}.room_id),
                status = EXCLUDED.status, conditions = EXCLUDED.conditions, updated_at = now()`
          }
        }).pipe(wrap("recordStatus")),
      audit: (entries) => audits.audit(entries).pipe(wrap("audit")),
      auditStart: (entries) => audits.auditStart(entries).pipe(wrap("auditStart")),
      auditFinish: (outcomes) => audits.auditFinish(outcomes).pipe(wrap("auditFinish")),
      closeInterrupted: (tenants) => audits.closeInterrupted(tenants).pipe(wrap("closeInterrupted")),
      relayRooms: (roomIds) =>
        roomIds.length === 0
          ? Effect.void
          : sql`INSERT INTO ${t("relayed_rooms")} (room_id)
              SELECT unnest(${sql`${[...new Set(roomIds)]}::text[]`})`.pipe(Effect.asVoid, wrap("relayRooms")),
      takeRelayed: (tenants) =>
        Effect.gen(function* () {
          if (!(yield* exists)) return []
          // Rooms no record places are found by the next full resync; kept an hour at most.
          yield* sql`DELETE FROM ${t("relayed_rooms")} WHERE at < now() - interval '1 hour'`
          const rows = yield* sql`DELETE FROM ${t("relayed_rooms")} r USING ${t("rooms")} x
            WHERE x.room_id = r.room_id AND x.tenant = ANY(${sql`${tenants}::text[]`})
            RETURNING r.room_id AS "roomId"`
          const decoded = yield* Schema.decodeUnknown(Schema.Array(Schema.Struct({ roomId: Schema.String })))(rows)
          return [...new Set(decoded.map((row) => row.roomId))]
        }).pipe(wrap("takeRelayed")),
      recordPass: (pass) =>
        sql`INSERT INTO ${t("passes")} (started_at, finished_at, rooms, applied, failed)
            VALUES (${pass.startedAt}, now(), ${pass.rooms}, ${pass.applied}, ${pass.failed})`.pipe(
          Effect.asVoid,
          wrap("recordPass"),
        ),
      status: Effect.gen(function* () {
        if (!(yield* exists)) return { rooms: [], attention: [], lastPass: Option.none() }
        const counts = yield* sql`SELECT tenant, kind, status, count(*)::int AS count FROM ${t("rooms")}
          WHERE status IS NOT NULL GROUP BY tenant, kind, status ORDER BY tenant, kind, status`
        const attention = yield* sql`SELECT key, room_id AS "roomId", status, conditions,
            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "updatedAt"
          FROM ${t("rooms")} WHERE status IN ('blocked', 'error') ORDER BY key`
        const passes = yield* sql`SELECT
            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "startedAt",
            to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "finishedAt",
            rooms, applied, failed
          FROM ${t("passes")} ORDER BY id DESC LIMIT 1`
        return {
          rooms: yield* Schema.decodeUnknown(Schema.Array(CountRow))(counts),
          attention: yield* Schema.decodeUnknown(Schema.Array(AttentionRow))(attention),
          lastPass: Option.fromNullable((yield* Schema.decodeUnknown(Schema.Array(PassRow))(passes))[0]),
        }
      }).pipe(wrap("status")),
    })
  })
