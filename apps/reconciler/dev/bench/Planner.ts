/**
 * Planner and desired state at growing sizes, in process, against the real PostgreSQL: the
 * five desired-state queries, the pure planner over converged rooms, and the daemon's
 * converged full resync through a warm state cache whose homeserver answers at once from
 * memory (Converged.ts). Time per room must stay flat as the tenant grows.
 */

import type { RoomPlan } from "@openmeet-reconciler/core"
import { planRoom } from "@openmeet-reconciler/core"
import { contextOf, planPass, Store } from "@openmeet-reconciler/engine"
import { Homeservers, makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Layer, Redacted } from "effect"
import { convergedRooms, inMemoryHomeserver } from "./Converged.ts"
import type { Services, Timing } from "./Harness.ts"
import { median, say, seededTenant, timed } from "./Harness.ts"

export interface PlannerRow {
  readonly rooms: number
  readonly events: number
  readonly attendeeRows: number
  readonly memberRows: number
  readonly desired: Timing
  readonly planner: Timing
  readonly resync: Timing
  readonly resyncRequests: number
  readonly resyncActions: number
  readonly heapMiB: number
}

const runs = 3

export const plannerScenario = (s: Services, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    yield* (yield* Store).migrate
    const rows: Array<PlannerRow> = []
    for (const target of sizes) {
      // Every fifth event brings a group: 1.2 rooms an event.
      const events = Math.round(target / 1.2)
      yield* say(`planner: seeding ${events} events (about ${target} rooms, 25 attendees each)`)
      const { runtime, seeded } = yield* seededTenant(s, `plan${target}`, events, { attendeesPerEvent: 50, seed: 5 })
      const desiredState = yield* DesiredState
      const desiredRuns: Array<Timing> = []
      let outcomes = (yield* desiredState.forTenant(runtime.tenant, runtime.policy)).rooms
      for (let i = 0; i < runs; i++) {
        const { value, timing } = yield* timed(desiredState.forTenant(runtime.tenant, runtime.policy))
        outcomes = value.rooms
        desiredRuns.push(timing)
      }
      const state = convergedRooms(outcomes, s.bot)
      const plannerRuns: Array<Timing> = []
      for (let i = 0; i < runs; i++) {
        const { timing } = yield* timed(
          Effect.sync(() => {
            const plans: Array<RoomPlan> = []
            for (const outcome of outcomes) {
              const key = outcome._tag === "Desired" ? outcome.room.key : outcome.key
              const actual =
                outcome._tag === "Desired" ? state.rooms.get(state.byAlias.get(outcome.room.alias) ?? "") : undefined
              const plan = planRoom(outcome, actual, contextOf(runtime, key))
              if (plan !== undefined) plans.push(plan)
            }
            return plans
          }),
        )
        plannerRuns.push(timing)
      }
      // The daemon's converged resync: a warm cache, every room recorded (as after its first pass).
      let requests = 0
      const cache = makeStateCache({ maxAge: "1 hour" })
      const matrix = cache.wrap(inMemoryHomeserver(s.bot, state, () => void requests++))
      const homeservers = Layer.succeed(
        Homeservers,
        Homeservers.of({
          connect: () => Effect.succeed(matrix),
          targetFor: () => Effect.succeed({ homeserverUrl: "http://bench.invalid", asToken: Redacted.make("bench") }),
          forServer: () => Effect.succeed(matrix),
        }),
      )
      const scope = { tenants: [runtime], rooms: [] }
      const first = yield* planPass(scope, { concurrency: 8 }).pipe(Effect.provide(homeservers))
      yield* (yield* Store).recordStatus(first.plan.rooms, [runtime.tenant.id])
      const resyncRuns: Array<Timing> = []
      let actions = 0
      for (let i = 0; i < runs; i++) {
        cache.invalidateJoined()
        requests = 0
        const { value, timing } = yield* timed(planPass(scope, { concurrency: 8 }).pipe(Effect.provide(homeservers)))
        actions = value.plan.rooms.reduce((n, room) => n + room.actions.length, 0)
        resyncRuns.push(timing)
      }
      const row: PlannerRow = {
        rooms: outcomes.length,
        events: seeded?.events ?? events,
        attendeeRows: seeded?.attendees ?? 0,
        memberRows: seeded?.groupMembers ?? 0,
        desired: median(desiredRuns),
        planner: median(plannerRuns),
        resync: median(resyncRuns),
        resyncRequests: requests,
        resyncActions: actions,
        heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
      }
      rows.push(row)
      yield* say(
        `planner: ${row.rooms} rooms: desired ${row.desired.ms.toFixed(0)} ms, planner ${row.planner.ms.toFixed(0)} ms, resync ${row.resync.ms.toFixed(0)} ms (${requests} request(s), ${actions} action(s))`,
      )
    }
    return { rows }
  })
