import { createHash } from "node:crypto"
import type { Duration } from "effect"
import { Effect, FiberMap, Redacted } from "effect"
import { openLockSession, tenantLockName } from "./LockSession.ts"

export interface LeadershipOptions<R> {
  /** The database of the reconciler's own schema: the locks live there. */
  readonly databaseUrl: Redacted.Redacted<string>
  /** The reconciler's schema: deployments with different schemas elect separately. */
  readonly schema: string
  readonly tenants: ReadonlyArray<string>
  /** This process, among the replicas: short and unique per start (it goes into an `application_name`). */
  readonly replicaId: string
  /** How often the replica looks at who else is alive and takes or gives tenants. */
  readonly interval: Duration.DurationInput
  /** How often the lock session proves it still holds its locks. */
  readonly checkInterval: Duration.DurationInput
  /** Runs one tenant's controller until interrupted (then stops within its grace). */
  readonly lead: (tenant: string) => Effect.Effect<void, never, R>
  /** The tenants this replica leads now, after every change. */
  readonly onLeading: (tenants: ReadonlySet<string>) => Effect.Effect<void>
  /** Called the moment the locks are known lost, before the tenants' controllers are interrupted. */
  readonly onLockLost: () => void
}

const weight = (tenant: string, replica: string): number =>
  createHash("sha256").update(`${tenant}\u0000${replica}`).digest().readUInt32BE(0)

/**
 * Which replica should lead each tenant: every replica computes the same answer from the
 * same list. Rendezvous hashing (the highest weight of tenant and replica wins) keeps most
 * tenants where they are when a replica comes or goes; a cap of ⌈tenants / replicas⌉ each
 * spreads them evenly.
 */
export const assignTenants = (
  tenants: ReadonlyArray<string>,
  replicas: ReadonlyArray<string>,
): ReadonlyMap<string, string> => {
  const cap = Math.ceil(tenants.length / Math.max(1, replicas.length))
  const load = new Map(replicas.map((r) => [r, 0]))
  const owners = new Map<string, string>()
  for (const tenant of [...tenants].sort()) {
    const ranked = [...replicas].sort((a, b) => weight(tenant, b) - weight(tenant, a) || (a < b ? -1 : 1))
    const owner = ranked.find((r) => (load.get(r) ?? 0) < cap)
    if (owner === undefined) continue
    owners.set(tenant, owner)
    load.set(owner, (load.get(owner) ?? 0) + 1)
  }
  return owners
}

/**
 * Leadership per tenant. Each replica holds one lock session, named after it (its
 * `application_name`): the replicas alive are those whose session is open, so a replica
 * that dies is gone the moment PostgreSQL ends its session. Every `interval` the replica
 * reads who lives, takes the advisory lock of each tenant assigned to it (once the
 * previous leader let go of it) and gives back a tenant assigned elsewhere (after its
 * controller stopped). When the session can no longer prove it holds its locks, every
 * controller is abandoned at once and the replica starts over. So N replicas reconcile N
 * shares in parallel, never two of them one tenant. Runs until interrupted; never fails.
 */
export const runLeadership = <R>(options: LeadershipOptions<R>): Effect.Effect<never, never, R> => {
  const lockOf = (tenant: string) => tenantLockName(options.schema, tenant)
  // Replicas of one schema know each other by this prefix (application_name holds 63 bytes).
  const prefix = `omr-leader:${createHash("sha256").update(options.schema).digest("hex").slice(0, 8)}:`
  const session = Effect.scoped(
    Effect.gen(function* () {
      const locks = yield* openLockSession({
        url: Redacted.value(options.databaseUrl),
        applicationName: `${prefix}${options.replicaId}`,
        checkInterval: options.checkInterval,
        onLost: options.onLockLost,
      })
      const running = yield* FiberMap.make<string>()
      const held = new Set<string>()
      yield* Effect.addFinalizer(() => options.onLeading(new Set()))
      const step = Effect.gen(function* () {
        const live = yield* locks.peers(prefix)
        const replicas = live.includes(options.replicaId) ? live : [...live, options.replicaId]
        const owners = assignTenants(options.tenants, replicas)
        for (const tenant of [...held]) {
          if (owners.get(tenant) === options.replicaId) continue
          // Stopped first (rooms in progress finish), then the lock goes to its new leader.
          yield* FiberMap.remove(running, tenant)
          yield* locks.unlock(lockOf(tenant))
          held.delete(tenant)
          yield* Effect.logInfo(`leadership: gave tenant ${tenant} to another replica`)
        }
        for (const tenant of options.tenants) {
          if (held.has(tenant) || owners.get(tenant) !== options.replicaId) continue
          if (!(yield* locks.tryLock(lockOf(tenant)))) continue
          held.add(tenant)
          yield* FiberMap.run(running, tenant, options.lead(tenant))
          yield* Effect.logInfo(`leadership: leading tenant ${tenant}`)
        }
        yield* options.onLeading(new Set(held))
      })
      const why = yield* Effect.raceFirst(
        locks.lost,
        step.pipe(Effect.zipRight(Effect.sleep(options.interval)), Effect.forever),
      )
      yield* Effect.logWarning(`leadership: stepped down from every tenant (${why})`)
    }),
  ).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning(`leadership: cannot reach the database for the locks: ${error.message}`),
    ),
  )
  return session.pipe(Effect.zipRight(Effect.sleep(options.interval)), Effect.forever)
}
