import { PgClient } from "@effect/sql-pg"
import type { DbQuery } from "@openmeet-reconciler/core"
import { dbQueries, Telemetry } from "@openmeet-reconciler/core"
import { Store } from "@openmeet-reconciler/engine"
import type { StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Layer, Option } from "effect"
import type { Settings } from "./Settings.ts"

export const pgLayer = (url: Settings["databaseUrl"]) =>
  PgClient.layer({ url, applicationName: "openmeet-matrix-reconciler" })

/** How the daemon caches; the CLI's commands read Matrix fresh. */
export interface RuntimeOptions {
  readonly cache?: StateCache
}

const isDbQuery = (name: string): name is DbQuery => dbQueries.some((query) => query === name)

/** OpenMeet's desired state, its query timings recorded in the program's telemetry. */
const desiredStateLayer = Layer.unwrapEffect(
  Effect.map(Telemetry, (telemetry) =>
    DesiredState.layerWith({
      onQuery: (query, seconds) => {
        if (isDbQuery(query)) telemetry.query(query, seconds)
      },
    }),
  ),
)

/**
 * Production wiring: OpenMeet's PostgreSQL (read only), the reconciler's own schema
 * (in the same database, one pool, unless RECONCILER_DATABASE_URL), and the homeserver.
 */
export const databaseLayer = (settings: Settings) => {
  const desired = desiredStateLayer
  return Option.match(settings.reconcilerDatabaseUrl, {
    onNone: () => Layer.merge(desired, Store.layer(settings.schema)).pipe(Layer.provide(pgLayer(settings.databaseUrl))),
    onSome: (url) =>
      Layer.merge(
        desired.pipe(Layer.provide(pgLayer(settings.databaseUrl))),
        Store.layer(settings.schema).pipe(Layer.provide(pgLayer(url))),
      ),
  })
}

export const serviceLayer = (settings: Settings, options: RuntimeOptions = {}) =>
  Layer.merge(
    databaseLayer(settings),
    Homeservers.layer(
      { homeserverUrl: settings.homeserverUrl, asToken: settings.registration.asToken },
      {},
      options.cache,
    ),
  )
