import type { GatedTenant, SafetyOptions, TenantPlan } from "@openmeet-reconciler/core"
import { gateTenant } from "@openmeet-reconciler/core"
import { Clock, Context, Duration, Effect, Layer } from "effect"

/**
 * A tenant's budget of destructive units (kicks, lowered levels, archives) for a window of
 * time, shared by whoever spends it: policy.md §5's per-pass cap, held over the daemon's
 * resync interval so that many small batches cannot add up to a mass kick.
 */
/** Units reserved in one window of a budget (a window starts when its first unit is spent). */
export interface Reservation {
  readonly units: number
  readonly window: number
}

export interface Budget {
  /**
   * Gates a tenant's rooms against what is left of its budget and reserves the units it lets
   * through, in one step: two workers gating at once never spend the same units.
   */
  readonly gate: (
    tenant: TenantPlan,
    safety: SafetyOptions,
  ) => Effect.Effect<GatedTenant & { readonly reservation: Reservation }>
  /** The gate as it would be now, reserving nothing (what a plan shows). */
  readonly preview: (tenant: TenantPlan, safety: SafetyOptions) => Effect.Effect<GatedTenant>
  /**
   * Gives back reserved units that were not applied (a failed or abandoned action), to the
   * window they came from: a window that has ended is not credited to the next one.
   */
  readonly refund: (tenant: string, reservation: Reservation) => Effect.Effect<void>
  /** Units spent in the tenant's current window. */
  readonly spent: (tenant: string) => Effect.Effect<number>
}

interface Window {
  started: number
  spent: number
}

/** A budget whose windows last `window` from the first unit spent in them. */
export const makeBudget = (window: Duration.DurationInput): Budget => {
  const length = Duration.toMillis(window)
  const windows = new Map<string, Window>()
  const current = (tenant: string, now: number): Window | undefined => {
    const entry = windows.get(tenant)
    return entry !== undefined && now - entry.started < length ? entry : undefined
  }
  const gateNow = (tenant: TenantPlan, safety: SafetyOptions, now: number) => {
    const entry = current(tenant.tenant, now)
    const left = Math.max(0, tenant.limits.maxDestructivePerPass - (entry?.spent ?? 0))
    return { entry, gated: gateTenant({ ...tenant, budget: Math.min(left, tenant.budget ?? left) }, safety) }
  }
  return {
    preview: (tenant, safety) => Effect.map(Clock.currentTimeMillis, (now) => gateNow(tenant, safety, now).gated),
    gate: (tenant, safety) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        // One synchronous step from reading what is left to recording what is spent.
        const { entry, gated } = gateNow(tenant, safety, now)
        if (gated.units === 0) return { ...gated, reservation: { units: 0, window: entry?.started ?? now } }
        const spending = entry ?? { started: now, spent: 0 }
        spending.spent += gated.units
        windows.set(tenant.tenant, spending)
        return { ...gated, reservation: { units: gated.units, window: spending.started } }
      }),
    refund: (tenant, reservation) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = current(tenant, now)
        if (entry !== undefined && entry.started === reservation.window) {
          entry.spent = Math.max(0, entry.spent - reservation.units)
        }
      }),
    spent: (tenant) => Effect.map(Clock.currentTimeMillis, (now) => current(tenant, now)?.spent ?? 0),
  }
}

/** The daemon's budget: one per tenant per `window` (RESYNC_INTERVAL), whoever spends it. */
// Stryker disable next-line StringLiteral: equivalent, the tag is this one service's only key: any text names it alike
export class DestructiveBudget extends Context.Tag("@openmeet-reconciler/engine/DestructiveBudget")<
  DestructiveBudget,
  Budget
>() {
  static readonly layer = (window: Duration.DurationInput) => Layer.sync(DestructiveBudget, () => makeBudget(window))
}
