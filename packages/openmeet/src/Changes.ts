import { SqlClient } from "@effect/sql"
import type { RoomKey } from "@openmeet-reconciler/core"
import { describeWithoutValuesInline, roomKey, Telemetry } from "@openmeet-reconciler/core"
import { Data, Deferred, Duration, Effect, Either, Queue, Redacted, Schema } from "effect"
import pg from "pg"
import type { WatchedTable } from "./ChangeTriggers.ts"
import { describeSqlError } from "./SqlErrors.ts"
import type { Tenant } from "./TenantConfig.ts"

/** One row changed in OpenMeet: its tenant, its table and the entity it belongs to. */
export interface Change {
  readonly tenant: string
  readonly table: WatchedTable
  readonly id: string
}

/** OpenMeet's ids are `serial`: a larger one cannot be a row, and would fail the query of every key batched with it. */
const maxSerial = 2_147_483_647

const Payload = Schema.Struct({
  t: Schema.String.pipe(Schema.maxLength(255)),
  tb: Schema.Literal("events", "eventAttendees", "groups", "groupMembers", "users", "matrixHandleRegistry"),
  id: Schema.String.pipe(
    Schema.pattern(/^[0-9]{1,10}$/),
    Schema.filter((id) => Number(id) <= maxSerial || `an id above ${maxSerial}`),
  ),
})
const decodePayload = Schema.decodeUnknownEither(Schema.parseJson(Payload))

/** NOTIFY payloads are at most 8000 bytes; the triggers' are a few dozen. */
const maxPayload = 512

/** Decodes a NOTIFY payload of the triggers; a malformed one is an error message, never a throw. */
export const decodeChange = (payload: string): Either.Either<Change, string> =>
  payload.length > maxPayload
    ? Either.left(`payload of ${payload.length} characters, more than a trigger sends`)
    : Either.match(decodePayload(payload), {
        onLeft: (error) => Either.left(describeWithoutValuesInline(error)),
        onRight: (p) => Either.right({ tenant: p.t, table: p.tb, id: p.id }),
      })

/** Reading the change feed failed: names the tenant and the query. */
export class ChangeFeedError extends Data.TaggedError("ChangeFeedError")<{
  readonly tenant: string
  readonly query: string
  readonly message: string
}> {}

const t = (sql: SqlClient.SqlClient, tenant: Tenant, table: string) => sql(`${tenant.schema}.${table}`)

/**
 * The rooms a batch of one tenant's changes affects: an event's or attendee's change its
 * event, a group's or member's its group, a user's (or their handle's) every event they
 * attend or own and every group they belong to (one query for the whole batch).
 */
export const keysForChanges = (tenant: Tenant, changes: ReadonlyArray<Change>) =>
  Effect.gen(function* () {
    const keys = new Map<string, RoomKey>()
    const add = (kind: "event" | "group", id: string) => keys.set(`${kind}:${id}`, roomKey(tenant.id, kind, id))
    const users = new Set<string>()
    for (const change of changes) {
      if (change.tenant !== tenant.id) continue
      if (change.table === "events" || change.table === "eventAttendees") add("event", change.id)
      else if (change.table === "groups" || change.table === "groupMembers") add("group", change.id)
      else users.add(change.id)
    }
    if (users.size > 0) {
      const sql = yield* SqlClient.SqlClient
      // One array parameter, not one per user: a poll after a bulk update of users can name
      // tens of thousands, beyond the 65535 parameters a statement may have.
      const ids = sql`${[...users]}::int[]`
      const rows = yield* sql<{ kind: string; id: string }>`
        SELECT 'event' AS kind, a."eventId"::text AS id FROM ${t(sql, tenant, "eventAttendees")} a
          WHERE a."eventId" IS NOT NULL AND a."userId" = ANY(${ids})
        UNION SELECT 'event', e.id::text FROM ${t(sql, tenant, "events")} e WHERE e."userId" = ANY(${ids})
        UNION SELECT 'group', m."groupId"::text FROM ${t(sql, tenant, "groupMembers")} m
          WHERE m."groupId" IS NOT NULL AND m."userId" = ANY(${ids})`.pipe(
        Effect.mapError(
          (error) =>
            new ChangeFeedError({ tenant: tenant.id, query: "rooms of users", message: describeSqlError(error) }),
        ),
      )
      for (const row of rows) add(row.kind === "group" ? "group" : "event", row.id)
    }
    return [...keys.values()]
  }).pipe(Effect.withSpan("ChangeFeed.keys", { attributes: { tenant: tenant.id, changes: changes.length } }))

/**
 * A polling position: microseconds since the epoch on the database's clock. Postgres keeps
 * microseconds and a JavaScript Date only milliseconds; a Date watermark would report the
 * last row again forever.
 */
export type Watermark = bigint

/** The database's clock now: the first polling watermark (Node's clock may differ). */
export const initialWatermark = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ now: string }>`SELECT (extract(epoch FROM now()) * 1000000)::bigint::text AS now`
  return BigInt(rows[0]?.now ?? "0")
})

const PolledRow = Schema.Struct({
  tb: Payload.fields.tb,
  id: Schema.String,
  at: Schema.String,
})

/**
 * Changes of one tenant after `watermark`, by `"updatedAt"`: the fallback when no trigger
 * is installed. `now()` is a transaction's start, so a row committed late can carry a time
 * older than rows already seen: the query looks `overlap` further back, and reporting a
 * change again is harmless (keys are de-duplicated by the queue). Deleted rows leave no
 * trace here: the daemon's full resync finds what they change.
 */
export const pollChanges = (tenant: Tenant, watermark: Watermark, overlap: Duration.DurationInput) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const since = (watermark - BigInt(Math.round(Duration.toMillis(overlap) * 1000))).toString()
    // OpenMeet's columns are `timestamp without time zone` holding UTC: compared with a
    // timestamp (not a timestamptz), no session time zone shifts them, and the index serves.
    const after = sql`"updatedAt" > timestamp 'epoch' + ${since}::bigint * interval '1 microsecond'`
    const micros = sql`(extract(epoch FROM "updatedAt") * 1000000)::bigint`
    const changed = (table: string, column: string) =>
      sql`SELECT ${table}::text AS tb, ${sql(column)}::text AS id, ${micros} AS at FROM ${t(sql, tenant, table)}
          WHERE ${after} AND ${sql(column)} IS NOT NULL`
    // One row per entity: a bulk update of an event's attendees is one change, not thousands.
    const rows = yield* sql`
      SELECT tb, id, max(at)::text AS at FROM (
        ${changed("events", "id")}
        UNION ALL ${changed("eventAttendees", "eventId")}
        UNION ALL ${changed("groups", "id")}
        UNION ALL ${changed("groupMembers", "groupId")}
        UNION ALL ${changed("users", "id")}
        UNION ALL SELECT 'matrixHandleRegistry', "userId"::text, ${micros} FROM public."matrixHandleRegistry"
          WHERE "tenantId" = ${tenant.id} AND ${after}
      ) AS changed GROUP BY tb, id ORDER BY tb, id`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(PolledRow))),
      Effect.mapError(
        (error) => new ChangeFeedError({ tenant: tenant.id, query: "poll", message: describeSqlError(error) }),
      ),
    )
    let next = watermark
    for (const row of rows) {
      const at = BigInt(row.at)
      if (at > next) next = at
    }
    const changes = rows.map((row): Change => ({ tenant: tenant.id, table: row.tb, id: row.id }))
    return { changes, watermark: next }
  }).pipe(Effect.withSpan("ChangeFeed.poll", { attributes: { tenant: tenant.id } }))

export interface ListenOptions {
  readonly databaseUrl: Redacted.Redacted<string>
  readonly channel: string
  /** A batch of decoded changes (notifications that arrived together). */
  readonly onChanges: (changes: ReadonlyArray<Change>) => Effect.Effect<void>
  /** Listening (again): after a reconnect, notifications sent meanwhile are lost, so a resync is due. */
  readonly onListening: (reconnected: boolean) => Effect.Effect<void>
  readonly onLost: (message: string) => Effect.Effect<void>
  readonly maxBackoff?: Duration.DurationInput
  /**
   * How often the connection is asked `SELECT 1` (and how long an answer may take). A LISTEN
   * connection is idle; one cut silently (a NAT or load balancer forgetting it) would
   * otherwise never be noticed and the feed would hear nothing, forever. Default 30 seconds.
   */
  readonly heartbeat?: Duration.DurationInput
  /** The connection's `application_name` (how an operator finds it in pg_stat_activity). */
  readonly applicationName?: string
}

/**
 * LISTENs on a connection of its own (pool connections come and go) and reconnects with
 * capped exponential backoff when it drops or stops answering. Malformed payloads are
 * logged and skipped. Runs until interrupted (which closes the connection); never fails.
 */
export const listenChanges = (options: ListenOptions): Effect.Effect<never> => {
  const maxMs = Duration.toMillis(options.maxBackoff ?? "30 seconds")
  const heartbeat = Duration.decode(options.heartbeat ?? "30 seconds")
  const session = (reconnected: boolean) =>
    Effect.scoped(
      Effect.gen(function* () {
        const telemetry = yield* Telemetry
        const notifications = yield* Queue.unbounded<string>()
        const lost = yield* Deferred.make<string>()
        // The client is released even when connecting fails or is interrupted: a connect
        // left running would open a session nobody closes.
        const client = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const c = new pg.Client({
              connectionString: Redacted.value(options.databaseUrl),
              application_name: options.applicationName ?? "openmeet-matrix-reconciler listen",
            })
            c.on("error", (error) => Deferred.unsafeDone(lost, Effect.succeed(error.message)))
            c.on("end", () => Deferred.unsafeDone(lost, Effect.succeed("connection closed")))
            c.on("notification", (message) => {
              if (message.channel === options.channel) Queue.unsafeOffer(notifications, message.payload ?? "")
            })
            return c
          }),
          // end() says goodbye and waits for the server; a socket cut silently never answers,
          // so after a while it is destroyed (else a reconnect or a shutdown would wait forever).
          (c) =>
            Effect.promise(() => c.end().catch(() => undefined)).pipe(
              // Finalizers are uninterruptible: without this the timeout would wait for end() too.
              Effect.interruptible,
              Effect.timeout("2 seconds"),
              Effect.catchAll(() => Effect.sync(() => c.connection.stream.destroy())),
            ),
        )
        yield* Effect.tryPromise({
          try: async () => {
            await client.connect()
            await client.query(`LISTEN "${options.channel.replaceAll('"', '""')}"`)
          },
          catch: describeSqlError,
        })
        yield* options.onListening(reconnected)
        const consume = Effect.forever(
          Effect.gen(function* () {
            const batch = yield* Queue.takeBetween(notifications, 1, 1000)
            const changes: Array<Change> = []
            for (const payload of batch) {
              const change = decodeChange(payload)
              if (Either.isRight(change)) changes.push(change.right)
              else {
                telemetry.dropped("notify")
                yield* Effect.logWarning(`change feed: notification ignored (${change.left})`)
              }
            }
            if (changes.length > 0) yield* options.onChanges(changes)
          }),
        )
        const alive = Effect.sleep(heartbeat).pipe(
          Effect.zipRight(
            Effect.tryPromise({ try: () => client.query("SELECT 1"), catch: describeSqlError }).pipe(
              Effect.timeoutFail({
                duration: heartbeat,
                onTimeout: () => `no answer to SELECT 1 within ${Duration.format(heartbeat)}`,
              }),
            ),
          ),
          Effect.forever,
          Effect.flip,
        )
        // raceFirst, not raceAll: a handler's defect must end the session, not be outlasted.
        return yield* Effect.raceFirst(Deferred.await(lost), Effect.raceFirst(alive, consume))
      }).pipe(
        // A defect in the caller's handlers must not end the feed: it is reported like a lost connection.
        Effect.catchAllDefect((defect) => Effect.succeed(`unexpected error: ${describeSqlError(defect)}`)),
      ),
    )
  const loop = (reconnected: boolean, failures: number): Effect.Effect<never> =>
    session(reconnected).pipe(
      Effect.either,
      Effect.flatMap((outcome) => {
        const message = Either.isLeft(outcome) ? outcome.left : outcome.right
        // A session that got to listen starts the backoff over.
        const next = Either.isLeft(outcome) ? failures + 1 : 1
        const delay = Math.min(500 * 2 ** (next - 1), maxMs)
        return options
          .onLost(message)
          .pipe(Effect.zipRight(Effect.sleep(Duration.millis(delay))), Effect.zipRight(loop(true, next)))
      }),
    )
  return loop(false, 0)
}
