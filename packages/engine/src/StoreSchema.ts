import type { Condition, PlannedAction, RoomKey } from "@openmeet-reconciler/core"
import { conditionTypes } from "@openmeet-reconciler/core"
import type { Option } from "effect"
import { Schema } from "effect"

/**
 * The reconciler's own schema (RECONCILER_SCHEMA): its migrations and the shapes of the
 * rows Store reads back. `s` is the schema's quoted name.
 */

/** Ordered migrations of the reconciler's schema; append only, never edit one that shipped. */
export const migrations: ReadonlyArray<(schema: string) => ReadonlyArray<string>> = [
  (s) => [
    `CREATE TABLE IF NOT EXISTS ${s}.rooms (
      key text PRIMARY KEY,
      tenant text NOT NULL,
      kind text NOT NULL,
      entity_id text NOT NULL,
      room_id text,
      aliases text[] NOT NULL DEFAULT '{}',
      status text,
      conditions jsonb NOT NULL DEFAULT '[]',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX IF NOT EXISTS rooms_room_id ON ${s}.rooms (room_id)`,
    `CREATE TABLE IF NOT EXISTS ${s}.audit_log (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      key text NOT NULL,
      room_id text,
      action text NOT NULL,
      detail jsonb NOT NULL,
      reason text,
      result text NOT NULL,
      error text,
      trace_id text
    )`,
    `CREATE INDEX IF NOT EXISTS audit_log_key_at ON ${s}.audit_log (key, at DESC)`,
    `CREATE TABLE IF NOT EXISTS ${s}.passes (
      id bigserial PRIMARY KEY,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL,
      rooms integer NOT NULL,
      applied integer NOT NULL,
      failed integer NOT NULL
    )`,
  ],
  // Which process wrote each audit row: with several replicas, the audit log shows one writer at a time.
  (s) => [`ALTER TABLE ${s}.audit_log ADD COLUMN IF NOT EXISTS writer text`],
  // Whether the reconciler archived a room is the last archive or unarchive applied to it.
  (s) => [`CREATE INDEX IF NOT EXISTS audit_log_room_at ON ${s}.audit_log (room_id, at DESC)`],
  // Rooms named by transactions a standby took: their tenant's leader reads them at once.
  (s) => [
    `CREATE TABLE IF NOT EXISTS ${s}.relayed_rooms (
      id bigserial PRIMARY KEY,
      room_id text NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    )`,
  ],
  // The leader's state cache, persisted: a new leader and a CLI plan start warm. A state is
  // NULL once a transaction named its room; `version` orders invalidations and reads.
  (s) => [
    `CREATE SEQUENCE IF NOT EXISTS ${s}.room_state_version`,
    `CREATE TABLE IF NOT EXISTS ${s}.room_states (
      room_id text PRIMARY KEY,
      bot text,
      version bigint NOT NULL,
      state jsonb,
      read_at timestamptz,
      expires_at timestamptz
    )`,
  ],
]

export const IdRow = Schema.Struct({ id: Schema.Union(Schema.String, Schema.Number, Schema.BigIntFromSelf) })
export const KeyOfRoomRow = Schema.Struct({ roomId: Schema.String, key: Schema.String })
export const LastArchiveRow = Schema.Struct({ roomId: Schema.String, action: Schema.String })
export const RecordRow = Schema.Struct({
  key: Schema.String,
  roomId: Schema.String,
  aliases: Schema.Array(Schema.String),
})
export const CountRow = Schema.Struct({
  tenant: Schema.String,
  kind: Schema.String,
  status: Schema.String,
  count: Schema.Number,
})
export const AttentionRow = Schema.Struct({
  key: Schema.String,
  roomId: Schema.NullOr(Schema.String),
  status: Schema.String,
  conditions: Schema.Array(
    Schema.Struct({
      type: Schema.Literal(...conditionTypes),
      message: Schema.String,
      adopt: Schema.optionalWith(Schema.String, { exact: true }),
    }),
  ),
  updatedAt: Schema.String,
})
export const PassRow = Schema.Struct({
  startedAt: Schema.String,
  finishedAt: Schema.String,
  rooms: Schema.Number,
  applied: Schema.Number,
  failed: Schema.Number,
})

/** What the reconciler remembers of a key's room: the first place it looks for it. */
export interface RoomRecord {
  readonly key: string
  readonly roomId: string
  /** Every alias the room had, oldest first (slugs change; old links keep working). */
  readonly aliases: ReadonlyArray<string>
}

/**
 * An audit row's result. `started`: sent, no answer yet (written ahead of the request);
 * `interrupted`: a process died between sending and hearing the answer, the homeserver
 * may or may not have applied it.
 */
export type AuditResult = "applied" | "failed" | "not_attempted" | "requeued" | "started" | "interrupted"

/** What an `interrupted` row says. */
export const interruptedError =
  "the process applying it ended before the homeserver answered; it may have been applied (the next plan redoes it if not)"

/** One applied (or failed) action, for the audit log. */
export interface AuditEntry {
  readonly key: RoomKey
  readonly roomId: string | undefined
  readonly action: PlannedAction
  readonly result: AuditResult
  readonly error: string | undefined
  readonly traceId: string | undefined
}

export interface StatusReport {
  readonly rooms: ReadonlyArray<{
    readonly tenant: string
    readonly kind: string
    readonly status: string
    readonly count: number
  }>
  readonly attention: ReadonlyArray<{
    readonly key: string
    readonly roomId: string | null
    readonly status: string
    readonly conditions: ReadonlyArray<Condition>
    readonly updatedAt: string
  }>
  readonly lastPass: Option.Option<{
    readonly startedAt: string
    readonly finishedAt: string
    readonly rooms: number
    readonly applied: number
    readonly failed: number
  }>
}
