import { Data, Deferred, Duration, Effect, Either, Option, Redacted, type Scope } from "effect"
import pg from "pg"

export interface LeaderOptions {
  /** The database of the reconciler's own schema: the lock lives there. */
  readonly databaseUrl: Redacted.Redacted<string>
  /** The reconciler's schema: deployments with different schemas elect separately. */
  readonly schema: string
  /** How often a standby tries the lock. */
  readonly retryInterval: Duration.DurationInput
  /** How often the leader checks that it still holds its lock. */
  readonly checkInterval: Duration.DurationInput
  readonly onLeading: (leading: boolean) => Effect.Effect<void>
  /** Called the moment the lock is known lost, before `lead` is interrupted. */
  readonly onLockLost?: () => void
}

/** The advisory lock's key text; `hashtext` of it is the lock id, as for migrations. */
export const leaderLockName = (schema: string): string => `openmeet-reconciler-leader:${schema}`

/** The lock is held by another process: who, as far as PostgreSQL tells. */
export class LockHeld extends Data.TaggedError("LockHeld")<{ readonly holder: string }> {}

/** The lock's database cannot be reached. */
export class LockUnavailable extends Data.TaggedError("LockUnavailable")<{ readonly message: string }> {}

const connect = (url: string, applicationName: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ connectionString: url, application_name: applicationName })
        // Without a listener an error event would crash the process; the loss is detected below.
        client.on("error", () => undefined)
        await client.connect()
        return client
      },
      catch: (error) => new LockUnavailable({ message: error instanceof Error ? error.message : String(error) }),
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined)),
  )

/** Whether this session holds the lock: its own backend, in pg_locks (a session lock is reentrant, so `SELECT 1` proves nothing). */
const holdsLock = `WITH k AS (SELECT hashtext($1)::bigint AS key)
  SELECT pg_backend_pid() AS pid, EXISTS (
    SELECT 1 FROM pg_locks, k WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND objsubid = 1
      AND classid::bigint = ((k.key >> 32) & 4294967295) AND objid::bigint = (k.key & 4294967295)
  ) AS held`

const holderOf = `WITH k AS (SELECT hashtext($1)::bigint AS key)
  SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(host(a.client_addr), 'local') AS addr,
         to_char(a.backend_start, 'YYYY-MM-DD"T"HH24:MI:SS') AS since
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, k
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.classid::bigint = ((k.key >> 32) & 4294967295) AND l.objid::bigint = (k.key & 4294967295)
  LIMIT 1`

/**
 * Takes the lock on a connection of its own, for the scope: `true` when taken. Then, until
 * the scope closes, `lost` completes the moment the lock can no longer be proven held (the
 * connection failed or closed, or a check finds another backend or no lock), and
 * `onLockLost` is called at once.
 */
const takeLock = (
  url: string,
  schema: string,
  applicationName: string,
  checkInterval: Duration.DurationInput,
  onLockLost: (() => void) | undefined,
): Effect.Effect<
  { readonly taken: false } | { readonly taken: true; readonly lost: Deferred.Deferred<string> },
  LockUnavailable,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const client = yield* connect(url, applicationName)
    const query = (text: string) =>
      Effect.tryPromise({
        try: () => client.query(text, [leaderLockName(schema)]),
        catch: (error) => new LockUnavailable({ message: error instanceof Error ? error.message : String(error) }),
      })
    yield* query("SELECT pg_try_advisory_lock(hashtext($1))")
    const first = yield* query(holdsLock)
    const pid: unknown = first.rows[0]?.pid
    if (first.rows[0]?.held !== true) return { taken: false } as const
    const lost = yield* Deferred.make<string>()
    const lose = (why: string) => {
      onLockLost?.()
      Deferred.unsafeDone(lost, Effect.succeed(why))
    }
    client.on("error", (error) => lose(`lock connection failed: ${error.message}`))
    client.on("end", () => lose("lock connection closed"))
    yield* query(holdsLock).pipe(
      Effect.timeout(Duration.max(Duration.decode(checkInterval), Duration.seconds(2))),
      Effect.either,
      Effect.tap((result) =>
        Effect.sync(() => {
          if (Either.isLeft(result)) lose(`lock check failed: ${String(result.left)}`)
          else if (result.right.rows[0]?.pid !== pid || result.right.rows[0]?.held !== true) {
            lose("the lock is no longer held by this session (a pooler in transaction mode?)")
          }
        }),
      ),
      Effect.zipRight(Effect.sleep(checkInterval)),
      Effect.forever,
      Effect.forkScoped,
    )
    return { taken: true, lost } as const
  })

/**
 * Runs `lead` only while this process holds the leader lock: a PostgreSQL session
 * advisory lock on a connection of its own (it needs a session-mode connection, not a
 * transaction pooler). Standbys try again every `retryInterval`; when the leader's
 * process dies its session ends and the lock is free. A leader that can no longer prove
 * it holds the lock interrupts `lead` at once (requests in flight are aborted), so nothing
 * is applied without it. Never fails; runs until interrupted.
 */
export const runAsLeader = <E, R>(
  options: LeaderOptions,
  lead: Effect.Effect<void, E, R>,
): Effect.Effect<never, never, R> => {
  const term = Effect.scoped(
    Effect.gen(function* () {
      const lock = yield* takeLock(
        Redacted.value(options.databaseUrl),
        options.schema,
        "openmeet-matrix-reconciler leader",
        options.checkInterval,
        options.onLockLost,
      )
      if (!lock.taken) return false
      yield* Effect.logInfo("leader: acquired the lock; applying")
      yield* options.onLeading(true)
      const why = yield* Effect.raceFirst(
        Deferred.await(lock.lost),
        lead.pipe(
          Effect.matchCause({
            onFailure: (cause) => `leading failed: ${String(cause)}`,
            onSuccess: () => "leading ended",
          }),
        ),
      ).pipe(Effect.ensuring(options.onLeading(false)))
      yield* Effect.logWarning(`leader: stepped down (${why})`)
      return true
    }),
  ).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning(`leader: cannot reach the database for the lock: ${error.message}`).pipe(Effect.as(false)),
    ),
  )
  return term.pipe(Effect.zipRight(Effect.sleep(options.retryInterval)), Effect.forever)
}

/**
 * Runs `effect` holding the leader lock, as `apply` does: no daemon (or other `apply`)
 * writes at the same time. When the lock is held elsewhere, waits up to `wait` for it,
 * then fails with `LockHeld` naming the holder. Losing the lock midway interrupts `effect`.
 */
export const withLeaderLock = <A, E, R>(
  options: Pick<LeaderOptions, "databaseUrl" | "schema"> & { readonly wait: Duration.DurationInput },
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | LockHeld | LockUnavailable, R> =>
  Effect.gen(function* () {
    const url = Redacted.value(options.databaseUrl)
    const deadline = Date.now() + Duration.toMillis(options.wait)
    // Each try on a connection of its own, closed unless it took the lock.
    const attempt = Effect.scoped(
      Effect.gen(function* () {
        const lock = yield* takeLock(url, options.schema, "openmeet-matrix-reconciler apply", "1 second", undefined)
        if (!lock.taken) return Option.none<A>()
        const lost = Deferred.await(lock.lost).pipe(
          Effect.flatMap((why) => Effect.fail(new LockUnavailable({ message: `the leader lock was lost: ${why}` }))),
        )
        return Option.some(yield* Effect.raceFirst(effect, lost))
      }),
    )
    while (true) {
      const done = yield* attempt
      if (Option.isSome(done)) return done.value
      if (Date.now() >= deadline) return yield* new LockHeld({ holder: yield* lockHolder(url, options.schema) })
      yield* Effect.sleep("1 second")
    }
  })

/** Who holds the lock, in words, as far as pg_stat_activity tells. */
const lockHolder = (url: string, schema: string) =>
  Effect.scoped(
    Effect.flatMap(connect(url, "openmeet-matrix-reconciler apply"), (client) =>
      Effect.tryPromise({
        try: () => client.query(holderOf, [leaderLockName(schema)]),
        catch: () => new LockUnavailable({ message: "cannot tell who holds the lock" }),
      }),
    ),
  ).pipe(
    Effect.map((result) => {
      const row = result.rows[0]
      return row === undefined
        ? "another process"
        : `${String(row.app) || "a client"} (backend pid ${String(row.pid)}, from ${String(row.addr)}, since ${String(row.since)})`
    }),
    Effect.orElseSucceed(() => "another process"),
  )
