import { PgClient } from "@effect/sql-pg"
import { Store } from "@openmeet-reconciler/engine"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Layer, Option } from "effect"
import type { Settings } from "./Settings.ts"

const pg = (url: Settings["databaseUrl"]) => PgClient.layer({ url, applicationName: "openmeet-matrix-reconciler" })

/**
 * Production wiring: OpenMeet's PostgreSQL (read only), the reconciler's own schema
 * (in the same database, one pool, unless RECONCILER_DATABASE_URL), and the homeserver.
 */
export const databaseLayer = (settings: Settings) =>
  Option.match(settings.reconcilerDatabaseUrl, {
    onNone: () =>
      Layer.merge(DesiredState.layer, Store.layer(settings.schema)).pipe(Layer.provide(pg(settings.databaseUrl))),
    onSome: (url) =>
      Layer.merge(
        DesiredState.layer.pipe(Layer.provide(pg(settings.databaseUrl))),
        Store.layer(settings.schema).pipe(Layer.provide(pg(url))),
      ),
  })

export const serviceLayer = (settings: Settings) =>
  Layer.merge(
    databaseLayer(settings),
    Homeservers.layer({ homeserverUrl: settings.homeserverUrl, asToken: settings.registration.asToken }),
  )
