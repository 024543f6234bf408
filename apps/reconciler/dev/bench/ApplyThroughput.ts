/**
 * Apply throughput: one action set (invites into existing rooms) applied by the reconciler
 * (`applyPlan`, rooms in parallel, each room's actions in order, each audited) and by a
 * minimal hand-written loop of the same HTTP calls with the same shape and concurrency,
 * against the same Synapse. Two tenants seeded alike get the same drift; the two take
 * turns going first over two rounds, so neither always meets a warmer homeserver.
 */

import type { PlanResult, TenantRuntime } from "@openmeet-reconciler/engine"
import { applyPlan, planPass, reconcileAgain } from "@openmeet-reconciler/engine"
import { Effect } from "effect"
import type { requestCounter, Services, Timing } from "./Harness.ts"
import { homeserversLayer, insertAttendee, newAttendees, say, seededTenant, timed } from "./Harness.ts"

type Counter = ReturnType<typeof requestCounter>

/** The plan's invites, POSTed by hand: rooms eight at a time, each room's in order. */
const handLoop = (s: Services, result: PlanResult) =>
  Effect.promise(async () => {
    const rooms = result.plan.rooms.filter((room) => room.roomId !== undefined && room.actions.length > 0)
    let next = 0
    let failed = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let room = rooms[next++]; room !== undefined; room = rooms[next++]) {
          for (const action of room.actions) {
            if (action.type !== "invite" || room.roomId === undefined) continue
            const url = new URL(`/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/invite`, s.homeserverUrl)
            const response = await fetch(url, {
              method: "POST",
              headers: { authorization: `Bearer ${s.asToken}`, "content-type": "application/json" },
              body: JSON.stringify({ user_id: action.user, reason: action.reason }),
            })
            await response.text()
            if (!response.ok) failed += 1
          }
        }
      }),
    )
    return failed
  })

/** `invites` new attendees in each of the first `rooms` event rooms; the plan that invites them. */
const drift = (runtime: TenantRuntime, rooms: ReadonlyArray<number>, invites: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < invites; i++) {
      for (const row of yield* newAttendees(runtime, rooms)) yield* insertAttendee(runtime, row)
    }
  })

export const applyScenario = (
  s: Services,
  counter: Counter,
  size: { readonly rooms: number; readonly invites: number },
) =>
  Effect.gen(function* () {
    const cli = homeserversLayer(s)
    const tenants: Array<TenantRuntime> = []
    for (const name of ["thra", "thrb"]) {
      const { runtime } = yield* seededTenant(s, `${name}${size.rooms}`, Math.round(size.rooms / 0.8), { seed: 23 })
      const scope = { tenants: [runtime], rooms: [] }
      yield* say(`apply: creating the rooms of ${runtime.tenant.id}`)
      const first = yield* planPass(scope, { concurrency: 8 }).pipe(Effect.provide(cli))
      yield* reconcileAgain(first, { concurrency: 8 }).pipe(Effect.provide(cli))
      tenants.push(runtime)
    }
    const [a, b] = tenants
    if (a === undefined || b === undefined) return yield* Effect.die("two tenants")
    const eventRooms = (runtime: TenantRuntime) =>
      planPass({ tenants: [runtime], rooms: [] }, { concurrency: 8 }).pipe(
        Effect.provide(cli),
        Effect.map((result) =>
          result.plan.rooms
            .filter((room) => room.key.kind === "event" && room.roomId !== undefined && room.status !== "blocked")
            .slice(0, size.rooms)
            .map((room) => Number(room.key.entityId)),
        ),
      )
    const roomsA = yield* eventRooms(a)
    const roomsB = yield* eventRooms(b)
    const rounds: Array<{
      readonly first: "reconciler" | "loop"
      readonly actions: number
      readonly reconciler: Timing
      readonly loop: Timing
      readonly reconcilerWrites: number
      readonly loopFailed: number
    }> = []
    for (const first of ["reconciler", "loop"] as const) {
      yield* drift(a, roomsA, size.invites)
      yield* drift(b, roomsB, size.invites)
      const planA = yield* planPass({ tenants: [a], rooms: [] }, { concurrency: 8 }).pipe(Effect.provide(cli))
      const planB = yield* planPass({ tenants: [b], rooms: [] }, { concurrency: 8 }).pipe(Effect.provide(cli))
      const invites = (plan: PlanResult) =>
        plan.plan.rooms.reduce((n, room) => n + room.actions.filter((x) => x.type === "invite").length, 0)
      yield* say(`apply: ${invites(planA)} and ${invites(planB)} invites, ${first} first`)
      const reconciler = Effect.gen(function* () {
        const before = counter.snapshot()
        const { timing } = yield* timed(applyPlan(planA, { concurrency: 8 }).pipe(Effect.provide(cli)))
        return { timing, writes: counter.since(before).writes }
      })
      const loop = timed(handLoop(s, planB))
      const [byReconciler, byLoop] =
        first === "reconciler"
          ? yield* Effect.all([reconciler, loop])
          : yield* Effect.map(Effect.all([loop, reconciler]), ([l, r]) => [r, l] as const)
      rounds.push({
        first,
        actions: invites(planA),
        reconciler: byReconciler.timing,
        loop: byLoop.timing,
        reconcilerWrites: byReconciler.writes,
        loopFailed: byLoop.value,
      })
    }
    const total = (pick: (round: (typeof rounds)[number]) => number) => rounds.reduce((n, r) => n + pick(r), 0)
    return {
      rooms: size.rooms,
      invitesPerRoom: size.invites,
      rounds,
      // Reconciler throughput over the loop's: the loop's time over the reconciler's.
      ratio: total((r) => r.loop.ms) / total((r) => r.reconciler.ms),
    }
  })
