import { PgClient } from "@effect/sql-pg"
import { Store } from "@openmeet-reconciler/engine"
import type { StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Layer, Option } from "effect"
import type { Settings } from "./Settings.ts"

export const pgLayer = (url: Settings["databaseUrl"]) =>
  PgClient.layer({ url, applicationName: "openmeet-matrix-reconciler" })

/** How the daemon caches; the CLI's commands read Matrix fresh. */
export interface RuntimeOptions {
  readonly cache?: StateCache
}

/**
 * Production wiring: OpenMeet's PostgreSQL (read only), the reconciler's own schema
 * (in the same database, one pool, unless RECONCILER_DATABASE_URL), and the homeserver.
 */
export const databaseLayer = (settings: Settings) => {
  const desired = DesiredState.layer
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
      {
        homeserverUrl: settings.homeserverUrl,
        asToken: settings.registration.asToken,
        appserviceId: settings.registration.id,
        hsToken: settings.registration.hsToken,
      },
      {},
      options.cache,
    ),
  )
