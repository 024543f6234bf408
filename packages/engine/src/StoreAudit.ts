import type { SqlClient } from "@effect/sql"
import { actionToJson, formatRoomKey } from "@openmeet-reconciler/core"
import { Effect, Schema } from "effect"
import type { AuditEntry, AuditResult } from "./StoreSchema.ts"
import { IdRow, interruptedError, LastArchiveRow } from "./StoreSchema.ts"

/**
 * The audit log (`audit_log`), written ahead: a request's rows are inserted as `started`
 * before it is sent and closed with its outcome after, so a write that landed always has
 * its row, even when the process dies between the two (the next lock holder closes such
 * rows as `interrupted`). Rows name their `writer`.
 */
export const auditOperations = (
  sql: SqlClient.SqlClient,
  schema: string,
  writer: string,
  exists: Effect.Effect<boolean, unknown>,
) => {
  const t = (name: string) => sql(`${schema}.${name}`)
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
  return {
    audit: (entries: ReadonlyArray<AuditEntry>) =>
      entries.length === 0 ? Effect.void : insertAudit(entries).pipe(Effect.asVoid),
    auditStart: (entries: ReadonlyArray<AuditEntry>): Effect.Effect<ReadonlyArray<string>, unknown> =>
      entries.length === 0
        ? Effect.succeed([])
        : insertAudit(entries.map((e) => ({ ...e, result: "started" as const }))).pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(IdRow))),
            Effect.map((rows) => rows.map((row) => String(row.id))),
          ),
    auditFinish: (
      outcomes: ReadonlyArray<{
        readonly id: string
        readonly result: AuditResult
        readonly error: string | undefined
      }>,
    ) =>
      outcomes.length === 0
        ? Effect.void
        : sql`UPDATE ${t("audit_log")} AS a SET result = v.result, error = v.error
            FROM (SELECT unnest(${sql`${outcomes.map((o) => o.id)}::bigint[]`}) AS id,
                         unnest(${sql`${outcomes.map((o) => o.result)}::text[]`}) AS result,
                         unnest(${sql`${outcomes.map((o) => o.error ?? null)}::text[]`}) AS error) AS v
            WHERE a.id = v.id`.pipe(Effect.asVoid),
    closeInterrupted: (tenants: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (tenants.length === 0 || !(yield* exists)) return 0
        // A key is kind:tenant:id (formatRoomKey); tenant ids hold no colon.
        const rows = yield* sql`UPDATE ${t("audit_log")} SET result = 'interrupted', error = ${interruptedError}
          WHERE result = 'started' AND split_part(key, ':', 2) = ANY(${sql`${tenants}::text[]`}) RETURNING id`
        return rows.length
      }),
    /** The rooms whose last archive or unarchive applied (or perhaps applied: interrupted) was an archive. */
    archivedByReconciler: (roomIds: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (roomIds.length === 0 || !(yield* exists)) return new Set<string>()
        const rows = yield* sql`SELECT DISTINCT ON (room_id) room_id AS "roomId", action FROM ${t("audit_log")}
          WHERE room_id = ANY(${sql`${roomIds}::text[]`}) AND action IN ('archive', 'unarchive')
            AND result IN ('applied', 'interrupted')
          ORDER BY room_id, at DESC, id DESC`
        const decoded = yield* Schema.decodeUnknown(Schema.Array(LastArchiveRow))(rows)
        return new Set(decoded.filter((row) => row.action === "archive").map((row) => row.roomId))
      }),
  }
}
