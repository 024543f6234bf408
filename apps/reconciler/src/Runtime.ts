import { PgClient } from "@effect/sql-pg"
import { Matrix } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Layer } from "effect"
import type { Settings } from "./Settings.ts"

/** Production wiring: OpenMeet's PostgreSQL and the homeserver, as the appservice bot. */
export const serviceLayer = (settings: Settings) =>
  Layer.merge(
    DesiredState.layer.pipe(
      Layer.provide(PgClient.layer({ url: settings.databaseUrl, applicationName: "openmeet-matrix-reconciler" })),
    ),
    Matrix.layer({ homeserverUrl: settings.homeserverUrl, asToken: settings.registration.asToken }),
  )
