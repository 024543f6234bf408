import { Context, Effect } from "effect"
import type { ActionType } from "./Action.ts"
import type { RoomStatus } from "./Plan.ts"

/** Label values known in advance: every combination starts at zero, as controller-runtime's do. */
export const roomKinds = ["event", "group", "orphan"] as const
export type RoomKindLabel = (typeof roomKinds)[number]
export const reconcileResults = ["success", "error", "blocked"] as const
export type ReconcileResult = (typeof reconcileResults)[number]
/** `held`: stopped by a safety limit; `dry_run`: planned by a daemon that only reports; `requeued`: lost a race, planned again. */
export const actionResults = ["applied", "failed", "not_attempted", "held", "dry_run", "requeued"] as const
export type ActionResult = (typeof actionResults)[number]
export const queueSources = ["change", "retry", "resync"] as const
export type QueueSource = (typeof queueSources)[number]
/** Inputs the reconciler refused and counted: NOTIFY payloads, appservice events, appservice requests. */
export const droppedInputs = ["notify", "transaction_event", "appservice_request"] as const
export type DroppedInput = (typeof droppedInputs)[number]
/** Endpoint templates of the Matrix requests the reconciler makes (no ids in them). */
export const matrixEndpoints = [
  "GET /account/whoami",
  "GET /capabilities",
  "GET /joined_rooms",
  "GET /directory/room/{alias}",
  "PUT /directory/room/{alias}",
  "DELETE /directory/room/{alias}",
  "GET /rooms/{roomId}/state",
  "PUT /rooms/{roomId}/state/m.room.name",
  "PUT /rooms/{roomId}/state/m.room.join_rules",
  "PUT /rooms/{roomId}/state/m.room.history_visibility",
  "PUT /rooms/{roomId}/state/m.room.guest_access",
  "PUT /rooms/{roomId}/state/m.room.canonical_alias",
  "PUT /rooms/{roomId}/state/m.room.power_levels",
  "POST /createRoom",
  "POST /rooms/{roomId}/invite",
  "POST /join/{roomId}",
  "POST /rooms/{roomId}/kick",
  "POST /appservice/{appserviceId}/ping",
] as const
/** Database queries by name: OpenMeet's desired-state queries, the change feed, the reconciler's own tables. */
export const dbQueries = [
  "events",
  "eventAttendees",
  "groups",
  "groupMembers",
  "users",
  "entities",
  "entitled",
  "changes",
  "poll",
  "store_read",
  "store_write",
] as const
export type DbQuery = (typeof dbQueries)[number]

/** One room's status for `reconciler_rooms`. */
export interface RoomCount {
  readonly tenant: string
  readonly kind: string
  readonly status: RoomStatus
}

/**
 * Everything the reconciler reports as it works, in one place: Matrix requests, database
 * queries, the work queue, reconciles, actions, rooms, leadership. Every package records
 * through this service and nothing else; observability's Prometheus metrics implement it.
 * Without one provided, nothing is recorded (the CLI's commands).
 */
export interface TelemetryService {
  /** One Matrix request attempt; `code` is the HTTP status, `error` when none came back. */
  readonly matrixRequest: (endpoint: string, code: string, seconds: number) => void
  readonly query: (query: DbQuery, seconds: number) => void
  readonly queueAdded: (source: QueueSource) => void
  /** A key was handed to a worker after waiting this long. */
  readonly queueTaken: (waitedSeconds: number) => void
  readonly queueRetried: () => void
  /** A queue's depth changed by `delta` (several queues run at once, one per tenant led). */
  readonly queueDepthChanged: (delta: number) => void
  readonly reconciled: (kind: RoomKindLabel, result: ReconcileResult, seconds: number) => void
  readonly action: (type: ActionType, result: ActionResult) => void
  /** The room gauges of these tenants from one status per room (absent combinations go to zero). */
  readonly rooms: (tenants: ReadonlyArray<string>, rooms: ReadonlyArray<RoomCount>) => void
  /** Actions held by a safety limit changed by `delta` (summed over the controllers). */
  readonly heldChanged: (delta: number) => void
  readonly pendingHandles: (tenant: string, users: number) => void
  /** A full resync finished now, after `seconds`. */
  readonly fullSync: (seconds: number) => void
  /** Whether this replica leads any tenant. */
  readonly leader: (leading: boolean) => void
  /** Whether this replica leads this tenant (leadership is per tenant). */
  readonly tenantLeader: (tenant: string, leading: boolean) => void
  readonly dropped: (input: DroppedInput) => void
}

const silent: TelemetryService = {
  matrixRequest: () => undefined,
  query: () => undefined,
  queueAdded: () => undefined,
  queueTaken: () => undefined,
  queueRetried: () => undefined,
  queueDepthChanged: () => undefined,
  reconciled: () => undefined,
  action: () => undefined,
  rooms: () => undefined,
  heldChanged: () => undefined,
  pendingHandles: () => undefined,
  fullSync: () => undefined,
  leader: () => undefined,
  tenantLeader: () => undefined,
  dropped: () => undefined,
}

/** The telemetry of the running program; silent unless a layer provides one. */
export class Telemetry extends Context.Reference<Telemetry>()("@openmeet-reconciler/core/Telemetry", {
  defaultValue: () => silent,
}) {}

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
