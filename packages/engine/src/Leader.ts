import { Deferred, Duration, Effect, Redacted } from "effect"
import pg from "pg"

export interface LeaderOptions {
  /** The database of the reconciler's own schema: the lock lives there. */
  readonly databaseUrl: Redacted.Redacted<string>
  /** The reconciler's schema: deployments with different schemas elect separately. */
  readonly schema: string
  /** How often a standby tries the lock. */
  readonly retryInterval: Duration.DurationInput
  /** How often the leader checks that its lock connection is alive. */
  readonly checkInterval: Duration.DurationInput
  readonly onLeading: (leading: boolean) => Effect.Effect<void>
  /** Called the moment the lock is known lost, before `lead` is interrupted. */
  readonly onLockLost?: () => void
}

/** The advisory lock's key text; `hashtext` of it is the lock id, as for migrations. */
export const leaderLockName = (schema: string): string => `openmeet-reconciler-leader:${schema}`

const connect = (url: string) =>
  Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({ connectionString: url, application_name: "openmeet-matrix-reconciler leader" })
      // Without a listener an error event would crash the process; the loss is detected below.
      client.on("error", () => undefined)
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined)),
  )

/**
 * Runs `lead` only while this process holds the leader lock: a PostgreSQL session
 * advisory lock on a connection of its own. Standbys try again every `retryInterval`;
 * when the leader's process dies its session ends and the lock is free. A leader whose
 * connection fails (an error event, or a failed check every `checkInterval`) interrupts
 * `lead` at once, so nothing is applied without the lock. Never fails; runs until interrupted.
 */
export const runAsLeader = <E, R>(
  options: LeaderOptions,
  lead: Effect.Effect<void, E, R>,
): Effect.Effect<never, never, R> => {
  const term = Effect.scoped(
    Effect.gen(function* () {
      const client = yield* connect(Redacted.value(options.databaseUrl))
      const result = yield* Effect.tryPromise(() =>
        client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS locked", [
          leaderLockName(options.schema),
        ]),
      )
      if (result.rows[0]?.locked !== true) return false
      const lost = yield* Deferred.make<string>()
      const lose = (why: string) => {
        options.onLockLost?.()
        Deferred.unsafeDone(lost, Effect.succeed(why))
      }
      client.on("error", (error) => lose(`lock connection failed: ${error.message}`))
      client.on("end", () => lose("lock connection closed"))
      const check = Effect.tryPromise(() => client.query("SELECT 1")).pipe(
        Effect.timeout(Duration.max(Duration.decode(options.checkInterval), Duration.seconds(2))),
        Effect.catchAll((error) => Effect.sync(() => lose(`lock connection check failed: ${String(error)}`))),
        Effect.zipRight(Effect.sleep(options.checkInterval)),
        Effect.forever,
      )
      yield* Effect.logInfo("leader: acquired the lock; applying")
      yield* options.onLeading(true)
      const why = yield* Effect.raceFirst(
        Deferred.await(lost),
        Effect.raceFirst(
          check,
          lead.pipe(
            Effect.matchCause({
              onFailure: (cause) => `leading failed: ${String(cause)}`,
              onSuccess: () => "leading ended",
            }),
          ),
        ),
      ).pipe(Effect.ensuring(options.onLeading(false)))
      yield* Effect.logWarning(`leader: stepped down (${why})`)
      return true
    }),
  ).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning(`leader: cannot reach the database for the lock: ${String(error)}`).pipe(Effect.as(false)),
    ),
  )
  return term.pipe(Effect.zipRight(Effect.sleep(options.retryInterval)), Effect.forever)
}
