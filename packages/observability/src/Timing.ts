import type { DbQuery } from "@openmeet-reconciler/core"
import { Telemetry } from "@openmeet-reconciler/core"
import { Effect } from "effect"

/** Records the effect's duration as `reconciler_db_query_duration_seconds{query}`, whatever its outcome. */
export const timed =
  (query: DbQuery) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Telemetry, (telemetry) =>
      Effect.suspend(() => {
        const started = performance.now()
        return Effect.ensuring(
          effect,
          Effect.sync(() => telemetry.query(query, (performance.now() - started) / 1000)),
        )
      }),
    )
