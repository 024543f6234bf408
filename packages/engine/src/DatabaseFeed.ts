import type { SqlClient } from "@effect/sql"
import { timed } from "@openmeet-reconciler/core"
import type { Change, Tenant, Watermark } from "@openmeet-reconciler/openmeet"
import {
  initialWatermark,
  keysForChanges,
  listenChanges,
  pollChanges,
  triggersInstalled,
} from "@openmeet-reconciler/openmeet"
import type { Redacted } from "effect"
import { Duration, Effect } from "effect"
import type { ControllerService } from "./Controller.ts"

export interface DatabaseFeedOptions {
  readonly tenants: ReadonlyArray<Tenant>
  /** OpenMeet's database: LISTEN runs on a connection of its own. */
  readonly databaseUrl: Redacted.Redacted<string>
  readonly channel: string
  readonly pollInterval: Duration.DurationInput
}

/**
 * Turns OpenMeet's changes into queued room keys: tenants with the triggers installed
 * are heard through LISTEN (a reconnect is followed by a full resync, since notifications
 * sent meanwhile are lost), the others are polled by `"updatedAt"` every `pollInterval`
 * (deletions wait for the full resync). Runs until interrupted; never fails.
 */
export const runDatabaseFeed = (
  controller: Pick<ControllerService, "enqueue" | "requestResync">,
  options: DatabaseFeedOptions,
): Effect.Effect<never, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const listened: Array<Tenant> = []
    const polled: Array<Tenant> = []
    for (const tenant of options.tenants) {
      const installed = yield* triggersInstalled(tenant, options.channel).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(
            `tenant ${tenant.id}: cannot tell whether triggers are installed (${error.message}); polling`,
          ).pipe(Effect.as(false)),
        ),
      )
      ;(installed ? listened : polled).push(tenant)
    }
    yield* Effect.logInfo(
      `change feed: LISTEN for ${listened.length} tenant(s), polling every ${Duration.format(Duration.decode(options.pollInterval))} for ${polled.length}`,
    )

    const context = yield* Effect.context<SqlClient.SqlClient>()
    const enqueue = (tenant: Tenant, changes: ReadonlyArray<Change>) =>
      keysForChanges(tenant, changes).pipe(
        Effect.provide(context),
        timed("changes"),
        Effect.flatMap((keys) => controller.enqueue(keys, "change")),
        Effect.catchAll((error) =>
          Effect.logWarning(`change feed: tenant ${tenant.id}: ${error.message}; the next resync covers it`),
        ),
      )

    const listen = listenChanges({
      databaseUrl: options.databaseUrl,
      channel: options.channel,
      onChanges: (changes) =>
        Effect.forEach(
          listened,
          (tenant) => {
            const mine = changes.filter((change) => change.tenant === tenant.id)
            return mine.length === 0 ? Effect.void : enqueue(tenant, mine)
          },
          { discard: true },
        ),
      onListening: (reconnected) =>
        reconnected
          ? Effect.logInfo("change feed: listening again; a full resync covers what was missed").pipe(
              Effect.zipRight(controller.requestResync),
            )
          : Effect.void,
      onLost: (message) => Effect.logWarning(`change feed: LISTEN connection lost (${message}); reconnecting`),
    })

    const poll = Effect.gen(function* () {
      const watermarks = new Map<string, Watermark>()
      while (true) {
        for (const tenant of polled) {
          const since = watermarks.get(tenant.id)
          if (since === undefined) {
            const now = yield* initialWatermark.pipe(Effect.option)
            if (now._tag === "Some") watermarks.set(tenant.id, now.value)
            continue
          }
          const result = yield* pollChanges(tenant, since, options.pollInterval).pipe(timed("poll"), Effect.either)
          if (result._tag === "Left") {
            yield* Effect.logWarning(`change feed: tenant ${tenant.id}: ${result.left.message}`)
            continue
          }
          watermarks.set(tenant.id, result.right.watermark)
          if (result.right.changes.length > 0) yield* enqueue(tenant, result.right.changes)
        }
        yield* Effect.sleep(options.pollInterval)
      }
    })

    return yield* Effect.all([listened.length > 0 ? listen : Effect.never, polled.length > 0 ? poll : Effect.never], {
      concurrency: "unbounded",
    }).pipe(Effect.zipRight(Effect.never))
  })
