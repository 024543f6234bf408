import type { TelemetryService } from "@openmeet-reconciler/core"
import {
  actionResults,
  actionTypes,
  dbQueries,
  droppedInputs,
  matrixEndpoints,
  queueSources,
  reconcileResults,
  roomKinds,
  roomStatuses,
  Telemetry,
} from "@openmeet-reconciler/core"
import { Layer } from "effect"
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client"

/** Seconds; Synapse answers reads in milliseconds and room creation in a few hundred. */
const requestBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const roomBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const queueBuckets = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600]
const fullSyncBuckets = [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600]
const queryBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

/** The reconciler's Prometheus metrics (architecture.md, observability contract), in their own registry. */
export interface ReconcilerMetrics extends TelemetryService {
  readonly registry: Registry
  /** `reconciler_input_dropped_total{source}`: inputs refused and counted (forged NOTIFY payloads, unreadable events). */
  readonly inputDropped: Counter<"source">
  readonly reconcileTotal: Counter<"kind" | "result">
  readonly reconcileDuration: Histogram<"kind">
  readonly actionsTotal: Counter<"type" | "result">
  readonly roomsGauge: Gauge<"tenant" | "kind" | "status">
  readonly pendingHandlesGauge: Gauge<"tenant">
  readonly destructiveActionsHeld: Gauge
  readonly workqueueDepth: Gauge
  readonly workqueueAdds: Counter<"source">
  readonly workqueueQueueDuration: Histogram
  readonly workqueueRetries: Counter
  readonly matrixRequests: Counter<"endpoint" | "code">
  readonly matrixRequestDuration: Histogram<"endpoint">
  readonly matrixRateLimited: Counter
  readonly dbQueryDuration: Histogram<"query">
  readonly lastFullSync: Gauge
  readonly fullSyncDuration: Histogram
  readonly leaderGauge: Gauge
  readonly tenantLeaderGauge: Gauge<"tenant">
}

/** Creates the metrics in a fresh registry, with prom-client's process and Node.js metrics. */
export const makeMetrics = (options: { readonly tenants?: ReadonlyArray<string> } = {}): ReconcilerMetrics => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const reconcileTotal = new Counter({
    name: "reconciler_reconcile_total",
    help: "Rooms reconciled, by room kind and result (success, error, blocked).",
    labelNames: ["kind", "result"] as const,
    registers,
  })
  const reconcileDuration = new Histogram({
    name: "reconciler_reconcile_duration_seconds",
    help: "Time to reconcile one room: read desired and actual state, plan, apply.",
    labelNames: ["kind"] as const,
    buckets: roomBuckets,
    registers,
  })
  const actionsTotal = new Counter({
    name: "reconciler_actions_total",
    help: "Planned actions by type and result (applied, failed, not_attempted, held by a safety limit, dry_run).",
    labelNames: ["type", "result"] as const,
    registers,
  })
  const rooms = new Gauge({
    name: "reconciler_rooms",
    help: "Managed rooms by tenant, kind and status after the last reconcile of each.",
    labelNames: ["tenant", "kind", "status"] as const,
    registers,
  })
  const pendingHandles = new Gauge({
    name: "reconciler_pending_handles",
    help: "Entitled users without a Matrix handle yet (they are invited once they have one).",
    labelNames: ["tenant"] as const,
    registers,
  })
  const destructiveActionsHeld = new Gauge({
    name: "reconciler_destructive_actions_held",
    help: "Kicks and demotions a safety limit holds back now; they need apply --confirm-destructive.",
    registers,
  })
  const workqueueDepth = new Gauge({
    name: "reconciler_workqueue_depth",
    help: "Room keys waiting in the work queue (not in progress, not in backoff).",
    registers,
  })
  const workqueueAdds = new Counter({
    name: "reconciler_workqueue_adds_total",
    help: "Room keys added to the work queue, by source (change, retry, resync).",
    labelNames: ["source"] as const,
    registers,
  })
  const workqueueQueueDuration = new Histogram({
    name: "reconciler_workqueue_queue_duration_seconds",
    help: "How long a room key waited in the work queue before a worker took it.",
    buckets: queueBuckets,
    registers,
  })
  const workqueueRetries = new Counter({
    name: "reconciler_workqueue_retries_total",
    help: "Room keys put back with backoff after a failed reconcile.",
    registers,
  })
  const matrixRequests = new Counter({
    name: "reconciler_matrix_requests_total",
    help: "Matrix requests by endpoint template and HTTP status code (error: no response).",
    labelNames: ["endpoint", "code"] as const,
    registers,
  })
  const matrixRequestDuration = new Histogram({
    name: "reconciler_matrix_request_duration_seconds",
    help: "Matrix request latency by endpoint template.",
    labelNames: ["endpoint"] as const,
    buckets: requestBuckets,
    registers,
  })
  const matrixRateLimited = new Counter({
    name: "reconciler_matrix_rate_limited_total",
    help: "Matrix requests answered with 429 (the reconciler waited retry_after_ms).",
    registers,
  })
  const dbQueryDuration = new Histogram({
    name: "reconciler_db_query_duration_seconds",
    help: "Database query latency by query name.",
    labelNames: ["query"] as const,
    buckets: queryBuckets,
    registers,
  })
  const lastFullSync = new Gauge({
    name: "reconciler_last_full_sync_timestamp_seconds",
    help: "Unix time at which the last full resync finished (0: none yet).",
    registers,
  })
  const fullSyncDuration = new Histogram({
    name: "reconciler_full_sync_duration_seconds",
    help: "Duration of a full resync: every desired room planned, orphans searched.",
    buckets: fullSyncBuckets,
    registers,
  })
  const leader = new Gauge({
    name: "reconciler_leader",
    help: "1 when this replica holds the leader lock and applies, else 0.",
    registers,
  })
  const tenantLeader = new Gauge({
    name: "reconciler_tenant_leader",
    help: "1 when this replica holds the tenant's leader lock and applies its changes, else 0.",
    labelNames: ["tenant"] as const,
    registers,
  })
  const inputDropped = new Counter({
    name: "reconciler_input_dropped_total",
    help: "Inputs refused and counted, by source: forged or oversized NOTIFY payloads, appservice events or requests that cannot be read.",
    labelNames: ["source"] as const,
    registers,
  })

  for (const kind of roomKinds) {
    reconcileDuration.zero({ kind })
    for (const result of reconcileResults) reconcileTotal.inc({ kind, result }, 0)
  }
  for (const type of actionTypes) for (const result of actionResults) actionsTotal.inc({ type, result }, 0)
  for (const source of queueSources) workqueueAdds.inc({ source }, 0)
  for (const endpoint of matrixEndpoints) matrixRequestDuration.zero({ endpoint })
  for (const query of dbQueries) dbQueryDuration.zero({ query })
  for (const source of droppedInputs) inputDropped.inc({ source }, 0)
  destructiveActionsHeld.set(0)
  workqueueDepth.set(0)
  workqueueRetries.inc(0)
  matrixRateLimited.inc(0)
  lastFullSync.set(0)
  leader.set(0)

  const setRooms: ReconcilerMetrics["rooms"] = (tenants, counts) => {
    const tally = new Map<string, number>()
    for (const { tenant, kind, status } of counts) {
      const key = `${tenant}\u0000${kind}\u0000${status}`
      tally.set(key, (tally.get(key) ?? 0) + 1)
    }
    for (const tenant of tenants) {
      for (const kind of roomKinds) {
        for (const status of roomStatuses) {
          rooms.set({ tenant, kind, status }, tally.get(`${tenant}\u0000${kind}\u0000${status}`) ?? 0)
        }
      }
    }
  }
  setRooms(options.tenants ?? [], [])
  for (const tenant of options.tenants ?? []) {
    pendingHandles.set({ tenant }, 0)
    tenantLeader.set({ tenant }, 0)
  }

  return {
    registry,
    reconcileTotal,
    reconcileDuration,
    actionsTotal,
    roomsGauge: rooms,
    pendingHandlesGauge: pendingHandles,
    destructiveActionsHeld,
    workqueueDepth,
    workqueueAdds,
    workqueueQueueDuration,
    workqueueRetries,
    matrixRequests,
    matrixRequestDuration,
    matrixRateLimited,
    dbQueryDuration,
    lastFullSync,
    fullSyncDuration,
    leaderGauge: leader,
    tenantLeaderGauge: tenantLeader,
    inputDropped,
    matrixRequest: (endpoint, code, seconds) => {
      matrixRequests.inc({ endpoint, code })
      matrixRequestDuration.observe({ endpoint }, seconds)
      if (code === "429") matrixRateLimited.inc()
    },
    query: (query, seconds) => dbQueryDuration.observe({ query }, seconds),
    queueAdded: (source) => workqueueAdds.inc({ source }),
    queueTaken: (seconds) => workqueueQueueDuration.observe(seconds),
    queueRetried: () => workqueueRetries.inc(),
    queueDepthChanged: (delta) => workqueueDepth.inc(delta),
    reconciled: (kind, result, seconds) => {
      reconcileTotal.inc({ kind, result })
      reconcileDuration.observe({ kind }, seconds)
    },
    action: (type, result) => actionsTotal.inc({ type, result }),
    rooms: setRooms,
    heldChanged: (delta) => destructiveActionsHeld.inc(delta),
    pendingHandles: (tenant, n) => pendingHandles.set({ tenant }, n),
    fullSync: (seconds) => {
      lastFullSync.set(Date.now() / 1000)
      fullSyncDuration.observe(seconds)
    },
    leader: (leading) => leader.set(leading ? 1 : 0),
    tenantLeader: (tenant, leading) => tenantLeader.set({ tenant }, leading ? 1 : 0),
    dropped: (source) => inputDropped.inc({ source }),
  }
}

/** The metrics as the program's telemetry: every package records through them. */
export const telemetryLayer = (metrics: ReconcilerMetrics) => Layer.succeed(Telemetry, metrics)
