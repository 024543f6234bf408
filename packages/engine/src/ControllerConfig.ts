import type { StateCache } from "@openmeet-reconciler/matrix"
import type { Duration } from "effect"
import { Context } from "effect"
import type { TenantRuntime } from "./Pass.ts"
import type { BackoffOptions } from "./WorkQueue.ts"

export interface ControllerOptions {
  readonly tenants: ReadonlyArray<TenantRuntime>
  /** Rooms read or written at once, shared by the workers. */
  readonly concurrency: number
  /** Batches reconciled at once. */
  readonly workers: number
  /** Keys one worker takes at once: their desired state is a handful of set-based queries. */
  readonly batchSize: number
  /** How often everything is planned again; also the window of the destructive budget. */
  readonly resyncInterval: Duration.DurationInput
  /** Plans and reports, never writes to Matrix (DRY_RUN). */
  readonly dryRun: boolean
  readonly backoff: BackoffOptions
  readonly cache: StateCache
  /** Whether the cache is loaded from and written to the reconciler's schema (PersistedCache.ts). */
  readonly persistStates?: boolean
  /** How long stopping waits for rooms in progress before abandoning them. */
  readonly shutdownGrace: Duration.DurationInput
  /** True when stopping must not wait for rooms in progress (the leader lock is lost). */
  readonly abandonNow?: () => boolean
  /** The appservice's registration id: each homeserver is asked to ping it once the controller runs. */
  readonly appserviceId: string
  /** How long an alias query waits for its room. */
  readonly aliasQueryTimeout?: Duration.DurationInput
}

/** How the controller runs: the daemon's settings. */
export class ControllerConfig extends Context.Tag("@openmeet-reconciler/engine/ControllerConfig")<
  ControllerConfig,
  ControllerOptions
>() {}
