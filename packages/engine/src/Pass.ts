import type {
  ActualRoom,
  DesiredOutcome,
  DesiredRoom,
  Plan,
  Policy,
  RoomContext,
  RoomKey,
  SafetyOptions,
} from "@openmeet-reconciler/core"
import { compareRoomPlans, formatRoomKey } from "@openmeet-reconciler/core"
import type { HomeserverTarget, MatrixService } from "@openmeet-reconciler/matrix"
import { Homeservers } from "@openmeet-reconciler/matrix"
import type { DesiredFilter, Tenant } from "@openmeet-reconciler/openmeet"
import { Effect } from "effect"
import type { Budget, Reservation } from "./DestructiveBudget.ts"

/** One tenant as the reconciler runs it. */
export interface TenantRuntime {
  readonly tenant: Tenant
  readonly policy: Policy
  readonly botUserId: string
}

/** What a pass looks at: these tenants, or only these rooms of them. */
export interface Scope {
  readonly tenants: ReadonlyArray<TenantRuntime>
  /** When non-empty, only these rooms (and no orphan search). */
  readonly rooms: ReadonlyArray<RoomKey>
}

export interface TenantFailure {
  readonly tenant: string
  readonly message: string
}

/** What one room's plan was computed from (for `explain`). */
export interface RoomDetails {
  readonly desired: DesiredRoom | undefined
  readonly actual: ActualRoom | undefined
  readonly context: RoomContext
}

/** A room found by alias, `"matrixRoomId"` or a tombstone that the reconciler has no record of yet. */
export interface Unrecorded {
  readonly key: RoomKey
  readonly roomId: string
  readonly alias: string | undefined
}

/**
 * A plan and what it was computed from: plain data. Apply reaches each tenant's homeserver
 * through `Homeservers` again; nothing here holds a service or a closure.
 */
export interface PlanResult {
  readonly scope: Scope
  /** Every room looked at, in key order; destructive actions over the limits are `held`. */
  readonly plan: Plan
  /** Tenants whose desired state could not be computed: nothing of them is planned. */
  readonly failedTenants: ReadonlyArray<TenantFailure>
  readonly pendingHandles: ReadonlyMap<string, number>
  /** Tenants planned in full (no --room filter): keys they no longer have are no longer managed. */
  readonly completeTenants: ReadonlyArray<string>
  readonly unrecorded: ReadonlyArray<Unrecorded>
  /** What each room's plan was computed from, by key. */
  readonly details: ReadonlyMap<string, RoomDetails>
  /** Tenants whose whole desired state entitles nobody (policy.md §5, suspect when Matrix is not empty). */
  readonly emptyTenants: ReadonlySet<string>
  /** Destructive units reserved per tenant from a shared budget (returned for what is not applied). */
  readonly reserved: ReadonlyMap<string, Reservation>
}

export interface PassOptions {
  /** Rooms read or written at once (Synapse gains from about 4). */
  readonly concurrency: number
  /** Which destructive actions may run (policy.md §5); by default the caps hold the rest. */
  readonly safety?: SafetyOptions
  /**
   * The budget destructive actions are reserved from: the daemon's, shared by every worker
   * and the resync for a window. Without one, each pass has `maxDestructivePerPass` of its own.
   */
  readonly budget?: Budget
  readonly onProgress?: (done: number, total: number) => Effect.Effect<void>
  /** Whether applying records a row in `passes` (a CLI pass); default true. */
  readonly recordPass?: boolean
  /**
   * Whether the result keeps each room's desired and actual state (`details`, for explain and
   * adopt); default true. The daemon's resync does not: they would keep every room's desired
   * state alive until the pass ends.
   */
  readonly details?: boolean
  /** Rooms built, identified and planned at a time (PlanPass.ts); default 500. */
  readonly batchSize?: number
}

export const noSafety: SafetyOptions = { confirmDestructive: false, allowEmpty: false }

export const contextOf = (runtime: TenantRuntime, key: RoomKey): RoomContext => ({
  policy: runtime.policy,
  serverName: runtime.tenant.serverName,
  botUserId: runtime.botUserId,
  kind: key.kind,
})

/** The desired-state filter for these keys. */
export const filterOf = (keys: ReadonlyArray<RoomKey>): DesiredFilter => ({
  eventIds: keys.filter((k) => k.kind === "event").map((k) => k.entityId),
  groupIds: keys.filter((k) => k.kind === "group").map((k) => k.entityId),
})

export const keyOf = (outcome: DesiredOutcome): RoomKey => (outcome._tag === "Desired" ? outcome.room.key : outcome.key)

export const aliasOf = (outcome: DesiredOutcome): string | undefined =>
  outcome._tag === "Desired" ? outcome.room.alias : outcome.alias

/** The tenant's own homeserver and appservice registration from the tenant list, when it has them. */
export const ownHomeserver = ({ tenant }: TenantRuntime): HomeserverTarget | undefined =>
  tenant.homeserverUrl !== undefined && tenant.asToken !== undefined
    ? {
        homeserverUrl: tenant.homeserverUrl,
        asToken: tenant.asToken,
        ...(tenant.appserviceId === undefined ? {} : { appserviceId: tenant.appserviceId }),
        ...(tenant.hsToken === undefined ? {} : { hsToken: tenant.hsToken }),
      }
    : undefined

/** The homeserver a tenant's rooms live on, as the engine reaches it. */
export const homeserverOf = (runtime: TenantRuntime) =>
  Effect.flatMap(Homeservers, (homeservers) => homeservers.forServer(runtime.tenant.serverName, ownHomeserver(runtime)))

/**
 * The tenant as its homeserver knows the bot: the appservice token decides who sends every
 * write, so the bot's levels are read for the user `whoami` names (a tenant's own
 * registration may have another sender than APPSERVICE_REGISTRATION's).
 */
export const asConnected = (runtime: TenantRuntime, matrix: MatrixService): TenantRuntime =>
  matrix.botUserId === runtime.botUserId ? runtime : { ...runtime, botUserId: matrix.botUserId }

/** `first` with the rooms `again` planned anew replaced by their new plans (same scope). */
export const mergePlans = (first: PlanResult, again: PlanResult): PlanResult => {
  const replaced = new Set(again.plan.rooms.map((room) => formatRoomKey(room.key)))
  const keep = <A extends { readonly key: RoomKey }>(items: ReadonlyArray<A>) =>
    items.filter((item) => !replaced.has(formatRoomKey(item.key)))
  return {
    ...first,
    plan: { rooms: [...keep(first.plan.rooms), ...again.plan.rooms].sort(compareRoomPlans) },
    failedTenants: [...first.failedTenants, ...again.failedTenants],
    unrecorded: [...keep(first.unrecorded), ...again.unrecorded],
    details: new Map([...first.details, ...again.details]),
  }
}
