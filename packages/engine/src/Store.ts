import { hostname } from "node:os"
import { SqlClient } from "@effect/sql"
import type { RoomKey, RoomPlan } from "@openmeet-reconciler/core"
import { actionToJson, formatRoomKey, timed } from "@openmeet-reconciler/core"
import { describeSqlError } from "@openmeet-reconciler/openmeet"
import { Context, Data, Effect, Layer, Option, Schema } from "effect"
import type { AuditEntry, AuditResult, RoomRecord, StatusReport } from "./StoreSchema.ts"
import {
  AttentionRow,
  CountRow,
  IdRow,
  interruptedError,
  KeyOfRoomRow,
  LastArchiveRow,
  migrations,
  PassRow,
  RecordRow,
} from "./StoreSchema.ts"

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
  }
>() {
  /** Over the SqlClient in context, in `schema`; audit rows name `writer` (default host/pid). */
  static readonly layer = (schema: string, writer = `${hostname()}/${process.pid}`) =>
    Layer.effect(Store, make(schema, writer))
}

const readOperations = new Set(["roomRecords", "status", "keysOfRooms", "archivedByReconciler"])

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
    const exists = sql<{ present: boolean }>`SELECT to_regclass(${`${s}.rooms`}) IS NOT NULL AS present`.pipe(
      Effect.map((rows) => rows[0]?.present === true),
    )

    const migrate = Effect.gen(function* () {
      // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists:
      // a role given only its own schema (least privilege) must not be asked for it.
      const present = yield* sql<{ present: boolean }>`SELECT EXISTS (
          SELECT 1 FROM pg_namespace WHERE nspname = ${schema}) AS present`
      if (present[0]?.present !== true) {
        yield* sql
          .unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`)
          .pipe(
            Effect.mapError(
              (error) =>
                new Error(
                  `schema ${schema} does not exist and this role may not create it (${describeSqlError(error)}); create it for the reconciler's role: CREATE SCHEMA ${s} AUTHORIZATION <role>`,
                ),
            ),
          )
      }
      yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer NOT NULL)`)
      yield* sql.withTransaction(
        Effect.gen(function* () {
          // One replica migrates at a time; the others wait, then find nothing to do.
          yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`openmeet-reconciler:${schema}`}))`
          const rows = yield* sql<{
            version: number
          }>`SELECT coalesce(max(version), 0) AS version FROM ${t("schema_version")}`
          const current = rows[0]?.version ?? 0
          for (const [index, migration] of migrations.entries()) {
            if (index + 1 <= current) continue
            for (const statement of migration(s)) yield* sql.unsafe(statement)
            yield* sql`INSERT INTO ${t("schema_version")} (version) VALUES (${index + 1})`
          }
        }),
      )
    }).pipe(wrap("migrate"))

    const insertAudit = (entries: ReadonlyArray<AuditEntry>) =>
      sql`INSERT INTO ${t("audit_log")} ${sql.insert(
        entries.map((e) => ({
          key: formatRoomKey(e.key),
          room_id: e.roomId ?? null,
          action: e.action.type,
          detail: JSON.stringify(actionToJson(e.action)),
          reason: e.action.reason,
          result: e.result,
          error: e.error ?? null,
          trace_id: e.traceId ?? null,
          writer,
        })),
      )} RETURNING id`

    return Store.of({
      schema,
      migrate,
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
      archivedByReconciler: (roomIds) =>
        Effect.gen(function* () {
          if (roomIds.length === 0 || !(yield* exists)) return new Set<string>()
          const rows = yield* sql`SELECT DISTINCT ON (room_id) room_id AS "roomId", action FROM ${t("audit_log")}
            WHERE room_id = ANY(${sql`${roomIds}::text[]`}) AND action IN ('archive', 'unarchive')
              AND result IN ('applied', 'interrupted')
            ORDER BY room_id, at DESC, id DESC`
          const decoded = yield* Schema.decodeUnknown(Schema.Array(LastArchiveRow))(rows)
          return new Set(decoded.filter((row) => row.action === "archive").map((row) => row.roomId))
        }).pipe(wrap("archivedByReconciler")),
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
      audit: (entries) =>
        entries.length === 0 ? Effect.void : insertAudit(entries).pipe(Effect.asVoid, wrap("audit")),
      auditStart: (entries) =>
        entries.length === 0
          ? Effect.succeed([])
          : insertAudit(entries.map((e) => ({ ...e, result: "started" as const }))).pipe(
              Effect.flatMap(Schema.decodeUnknown(Schema.Array(IdRow))),
              Effect.map((rows) => rows.map((row) => String(row.id))),
              wrap("auditStart"),
            ),
      auditFinish: (outcomes) =>
        outcomes.length === 0
          ? Effect.void
          : sql`UPDATE ${t("audit_log")} AS a SET result = v.result, error = v.error
              FROM (SELECT unnest(${sql`${outcomes.map((o) => o.id)}::bigint[]`}) AS id,
                           unnest(${sql`${outcomes.map((o) => o.result)}::text[]`}) AS result,
                           unnest(${sql`${outcomes.map((o) => o.error ?? null)}::text[]`}) AS error) AS v
              WHERE a.id = v.id`.pipe(Effect.asVoid, wrap("auditFinish")),
      closeInterrupted: (tenants) =>
        Effect.gen(function* () {
          if (tenants.length === 0 || !(yield* exists)) return 0
          // A key is kind:tenant:id (formatRoomKey); tenant ids hold no colon.
          const rows = yield* sql`UPDATE ${t("audit_log")} SET result = 'interrupted', error = ${interruptedError}
            WHERE result = 'started' AND split_part(key, ':', 2) = ANY(${sql`${tenants}::text[]`}) RETURNING id`
          return rows.length
        }).pipe(wrap("closeInterrupted")),
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
