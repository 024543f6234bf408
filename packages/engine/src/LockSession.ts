import { Data, Deferred, Duration, Effect, Either, type Scope } from "effect"
import pg from "pg"

/** The lock's database cannot be reached. */
export class LockUnavailable extends Data.TaggedError("LockUnavailable")<{ readonly message: string }> {}

/** The lock of one tenant's leadership; `hashtext` of it is the lock id, as for migrations. */
export const tenantLockName = (schema: string, tenant: string): string =>
  `openmeet-reconciler-leader:${schema}:${tenant}`

/**
 * A connection of its own holding PostgreSQL session advisory locks (it needs a
 * session-mode connection, not a transaction pooler), proven held every `checkInterval`.
 */
export interface LockSession {
  /** Takes the lock if it is free; true when this session holds it now. */
  readonly tryLock: (name: string) => Effect.Effect<boolean, LockUnavailable>
  readonly unlock: (name: string) => Effect.Effect<void, LockUnavailable>
  /** Completes, with why, the moment the session can no longer prove it holds every lock it took. */
  readonly lost: Effect.Effect<string>
  /** Who holds a lock, in words, as far as pg_stat_activity tells. */
  readonly holderOf: (name: string) => Effect.Effect<string>
  /**
   * The sessions open now whose `application_name` starts with `prefix`, by the rest of
   * their name: a replica whose lock session is gone (a crash ends it at once) is gone.
   */
  readonly peers: (prefix: string) => Effect.Effect<ReadonlyArray<string>, LockUnavailable>
}

const failure = (error: unknown) =>
  new LockUnavailable({ message: error instanceof Error ? error.message : String(error) })

/** The key of a named lock in pg_locks: its `classid` and `objid` halves, with `objsubid` 1. */
const matchesLock = (locks: string, name: string) =>
  `${locks}.locktype = 'advisory' AND ${locks}.granted AND ${locks}.objsubid = 1
    AND ${locks}.classid::bigint = ((hashtext(${name})::bigint >> 32) & 4294967295)
    AND ${locks}.objid::bigint = (hashtext(${name})::bigint & 4294967295)`

/** This backend, and which of the names it does not hold (a session lock is reentrant: `SELECT 1` proves nothing). */
const proof = `SELECT pg_backend_pid() AS pid, array(
    SELECT n FROM unnest($1::text[]) AS n
    WHERE NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = pg_backend_pid() AND ${matchesLock("l", "n")})
  ) AS missing`

const holder = `SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(host(a.client_addr), 'local') AS addr,
    to_char(a.backend_start, 'YYYY-MM-DD"T"HH24:MI:SS') AS since
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE ${matchesLock("l", "$1")} AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  LIMIT 1`

/** Opens a lock session for the scope; closing the scope ends the session, which frees its locks. */
export const openLockSession = (options: {
  readonly url: string
  readonly applicationName: string
  readonly checkInterval: Duration.DurationInput
  /** Called the moment a lock is known lost, before anything waiting on `lost` runs. */
  readonly onLost?: () => void
}): Effect.Effect<LockSession, LockUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const c = new pg.Client({ connectionString: options.url, application_name: options.applicationName })
          // Without a listener an error event would crash the process; the loss is detected below.
          c.on("error", () => undefined)
          await c.connect()
          return c
        },
        catch: failure,
      }),
      (c) => Effect.promise(() => c.end().catch(() => undefined)),
    )
    const query = (text: string, values: ReadonlyArray<unknown>) =>
      Effect.tryPromise({ try: () => client.query(text, [...values]), catch: failure })
    const held = new Set<string>()
    const lost = yield* Deferred.make<string>()
    let gone = false
    const lose = (why: string) => {
      if (gone) return
      gone = true
      options.onLost?.()
      Deferred.unsafeDone(lost, Effect.succeed(why))
    }
    client.on("error", (error) => lose(`lock connection failed: ${error.message}`))
    client.on("end", () => lose("lock connection closed"))
    const pid: unknown = (yield* query(proof, [[]])).rows[0]?.pid
    yield* Effect.suspend(() => query(proof, [[...held]])).pipe(
      Effect.timeout(Duration.max(Duration.decode(options.checkInterval), Duration.seconds(2))),
      Effect.either,
      Effect.tap((result) =>
        Effect.sync(() => {
          if (Either.isLeft(result)) lose(`lock check failed: ${String(result.left)}`)
          else {
            const row = result.right.rows[0]
            const missing: unknown = row?.missing
            if (row?.pid !== pid || (Array.isArray(missing) && missing.length > 0)) {
              lose("a lock is no longer held by this session (a pooler in transaction mode?)")
            }
          }
        }),
      ),
      Effect.zipRight(Effect.sleep(options.checkInterval)),
      Effect.forever,
      Effect.forkScoped,
    )
    return {
      tryLock: (name) =>
        Effect.gen(function* () {
          yield* query("SELECT pg_try_advisory_lock(hashtext($1))", [name])
          const check = (yield* query(proof, [[name]])).rows[0]
          const missing: unknown = check?.missing
          const taken = check?.pid === pid && Array.isArray(missing) && missing.length === 0
          if (taken) held.add(name)
          return taken
        }),
      unlock: (name) =>
        query("SELECT pg_advisory_unlock(hashtext($1))", [name]).pipe(
          Effect.tap(() => Effect.sync(() => held.delete(name))),
          Effect.asVoid,
        ),
      lost: Deferred.await(lost),
      peers: (prefix) =>
        query(
          // Only this database's sessions: deployments sharing a PostgreSQL server (same schema
          // name, other databases) would otherwise count each other's replicas as peers and
          // hand tenants to replicas that never take them.
          `SELECT DISTINCT substr(application_name, length($1) + 1) AS peer FROM pg_stat_activity
            WHERE starts_with(application_name, $1) AND datname = current_database() ORDER BY 1`,
          [prefix],
        ).pipe(Effect.map((result) => result.rows.map((row) => String(row.peer)))),
      holderOf: (name) =>
        query(holder, [name]).pipe(
          Effect.map((result) => {
            const row = result.rows[0]
            return row === undefined
              ? "another process"
              : `${String(row.app) || "a client"} (backend pid ${String(row.pid)}, from ${String(row.addr)}, since ${String(row.since)})`
          }),
          Effect.orElseSucceed(() => "another process"),
        ),
    }
  })
