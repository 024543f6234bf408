import { Data, Duration, Effect, Either, Redacted } from "effect"
import { LockUnavailable, openLockSession, tenantLockName } from "./LockSession.ts"

/** A tenant's leader lock is held by another process: which tenant, and who, as far as PostgreSQL tells. */
export class LockHeld extends Data.TaggedError("LockHeld")<{ readonly tenant: string; readonly holder: string }> {}

export interface LeaderLockOptions {
  /** The database of the reconciler's own schema: the locks live there. */
  readonly databaseUrl: Redacted.Redacted<string>
  readonly schema: string
  /** The tenants whose leadership is needed (the daemon leads each on its own lock). */
  readonly tenants: ReadonlyArray<string>
  /** How long to wait for locks held elsewhere; zero: refuse at once. */
  readonly wait: Duration.DurationInput
}

/**
 * Runs `effect` holding the leader lock of every tenant it touches, as `apply` does: no
 * daemon (or other `apply`) writes to those tenants' rooms at the same time. When a lock is
 * held elsewhere, waits up to `wait`, then fails with `LockHeld` naming the tenant and the
 * holder. Losing a lock midway interrupts `effect` (Matrix requests in flight are aborted).
 */
export const withLeaderLock = <A, E, R>(
  options: LeaderLockOptions,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | LockHeld | LockUnavailable, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(options.wait)
    const names = options.tenants.map((tenant) => [tenant, tenantLockName(options.schema, tenant)] as const)
    // Each try on a session of its own: every lock or none, and a session closed frees what it took.
    const attempt = Effect.scoped(
      Effect.gen(function* () {
        const locks = yield* openLockSession({
          url: Redacted.value(options.databaseUrl),
          applicationName: "openmeet-matrix-reconciler apply",
          checkInterval: "1 second",
        })
        for (const [tenant, name] of names) {
          if (!(yield* locks.tryLock(name))) return Either.left({ tenant, holder: yield* locks.holderOf(name) })
        }
        const lost = locks.lost.pipe(
          Effect.flatMap((why) => Effect.fail(new LockUnavailable({ message: `the leader lock was lost: ${why}` }))),
        )
        return Either.right(yield* Effect.raceFirst(effect, lost))
      }),
    )
    while (true) {
      const done = yield* attempt
      if (Either.isRight(done)) return done.right
      if (Date.now() >= deadline) return yield* new LockHeld(done.left)
      yield* Effect.sleep("1 second")
    }
  })
