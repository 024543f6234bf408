import type { SqlClient } from "@effect/sql"
import type { Policy, RoomKey, RoomPlan, SafetyOptions } from "@openmeet-reconciler/core"
import { defaultPolicy } from "@openmeet-reconciler/core"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import type { SynapseClient } from "@openmeet-reconciler/testing"
import type { Effect } from "effect"

/** What a scenario can touch: its own tenant's rows, and Synapse directly. */
export interface World {
  readonly tenant: Tenant
  readonly synapse: SynapseClient
  readonly bot: string
  /** Runs an Effect against the test database. */
  readonly rows: (effect: Effect.Effect<unknown, unknown, SqlClient.SqlClient>) => Promise<void>
  /** Runs SQL; `$s` stands for the tenant's schema, `$t` for its id. */
  readonly sql: (query: string) => Promise<void>
  /** Runs one reconcile pass (plan and apply) with the scenario's policy. */
  readonly pass: () => Promise<void>
  /** The Matrix id of seeded user n. */
  readonly mx: (n: number) => string
  /** Registers user n in Synapse (needed before they can join or knock). */
  readonly register: (n: number) => Promise<string>
  /** The room that has the alias of this event or group slug. */
  readonly room: (kind: "event" | "group", slug: string) => Promise<string>
  readonly alias: (kind: "event" | "group", slug: string) => string
  /** Patches the room's power levels as the bot (`users` merged, other keys replaced). */
  readonly levels: (roomId: string, patch: Record<string, unknown>) => Promise<void>
}

/**
 * One row of policy.md as a fixture: rows (and a first converging pass), a change in
 * OpenMeet or Matrix, the actions the plan must list, what Synapse must say after the
 * apply, and then a plan with nothing left to do.
 */
export interface Scenario {
  readonly section: string
  readonly name: string
  readonly policy?: Partial<Policy>
  readonly setup: (w: World) => Promise<void>
  /** Apply once after setup, so the change starts from a converged room (default true). */
  readonly converge?: boolean
  readonly change?: (w: World) => Promise<void>
  /** Per room key (`event:<id>`, `group:<id>`, `orphan`): `type` or `type user`, `(held)` when held. */
  readonly actions: (w: World) => Record<string, ReadonlyArray<string>>
  /** Room statuses the plan must show, per short key. */
  readonly statuses?: (w: World) => Record<string, RoomPlan["status"]>
  readonly conditions?: (w: World) => Record<string, ReadonlyArray<string>>
  readonly safety?: SafetyOptions
  readonly after?: (w: World) => Promise<void>
  /** The second plan has no action (default true; false when caps leave work for later passes). */
  readonly settles?: boolean
}

export const withPolicy = (overrides: Partial<Policy> | undefined): Policy => ({ ...defaultPolicy, ...overrides })

/** `event:42` for `event:<tenant>:42`; `orphan` for any orphan. */
export const shortKey = (key: RoomKey): string => (key.kind === "orphan" ? "orphan" : `${key.kind}:${key.entityId}`)
