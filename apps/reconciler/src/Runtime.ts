import { PgClient } from "@effect/sql-pg"
import { Store } from "@openmeet-reconciler/engine"
import type { MatrixConfig, StateCache } from "@openmeet-reconciler/matrix"
import { Homeservers } from "@openmeet-reconciler/matrix"
import type { DesiredStateOptions } from "@openmeet-reconciler/openmeet"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Layer, Option } from "effect"
import type { Settings } from "./Settings.ts"

export const pgLayer = (url: Settings["databaseUrl"]) =>
  PgClient.layer({ url, applicationName: "openmeet-matrix-reconciler" })

/** How the daemon observes and caches; the CLI's commands use none of it. */
export interface RuntimeOptions {
  readonly desiredState?: DesiredStateOptions
  readonly matrix?: Pick<MatrixConfig, "onRequest">
  readonly cache?: StateCache
}

/**
 * Production wiring: OpenMeet's PostgreSQL (read only), the reconciler's own schema
 * (in the same database, one pool, unless RECONCILER_DATABASE_URL), and the homeserver.
 */
export const databaseLayer = (settings: Settings, options: RuntimeOptions = {}) => {
  const desired = DesiredState.layerWith(options.desiredState ?? {})
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
    databaseLayer(settings, options),
    Homeservers.layer(
      { homeserverUrl: settings.homeserverUrl, asToken: settings.registration.asToken },
      options.matrix ?? {},
      options.cache,
    ),
  )
