import { withLeaderLock } from "@openmeet-reconciler/engine"
import type { Duration } from "effect"
import { Effect, Option } from "effect"
import type { Settings } from "./Settings.ts"
import { SettingsError } from "./Settings.ts"

/**
 * Runs `effect` holding the leader locks of these tenants, as every command that writes to Matrix
 * does (`apply`, `adopt`): two writers would overwrite each other's power levels. A lock
 * held elsewhere is one clear error naming the holder.
 */
export const underLeaderLock = <A, E, R>(
  settings: Settings,
  tenants: ReadonlyArray<string>,
  wait: Duration.Duration,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | SettingsError, R> =>
  withLeaderLock(
    {
      databaseUrl: Option.getOrElse(settings.reconcilerDatabaseUrl, () => settings.databaseUrl),
      schema: settings.schema,
      tenants,
      wait,
    },
    // The command's own errors pass through the lock untouched.
    Effect.either(effect),
  ).pipe(
    Effect.catchTags({
      LockHeld: (error) =>
        Effect.fail(
          new SettingsError({
            message: `the leader lock of tenant ${JSON.stringify(error.tenant)} (schema ${JSON.stringify(settings.schema)}) is held by ${error.holder}: a daemon leads it, or another apply runs. Stop it, or wait with --wait-for-lock 5m; two writers would overwrite each other's power levels`,
          }),
        ),
      LockUnavailable: (error) =>
        Effect.fail(new SettingsError({ message: `the leader lock (reconciler database): ${error.message}` })),
    }),
    Effect.flatten,
  )
