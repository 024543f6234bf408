/**
 * Convergence latency: OpenMeet changes (a new confirmed attendee each, one room each)
 * committed at a steady rate while a daemon manages the tenant's rooms, and the time from
 * each commit to its invite in Synapse (the member event's `origin_server_ts`; one clock).
 * Three ways of hearing of changes: database triggers (LISTEN), polling "updatedAt" every
 * POLL_INTERVAL (its default, 30s), and the periodic resync alone (RESYNC_INTERVAL 60s
 * here, not the default 10m, polling off).
 */

import type { TenantRuntime } from "@openmeet-reconciler/engine"
import { planPass, reconcileAgain } from "@openmeet-reconciler/engine"
import { installTriggers, uninstallTriggers } from "@openmeet-reconciler/openmeet"
import { Effect, Schema } from "effect"
import { startDaemon } from "./DaemonProcess.ts"
import type { Services } from "./Harness.ts"
import { homeserversLayer, insertAttendee, newAttendees, percentile, say, seededTenant, sleep } from "./Harness.ts"

/** A tenant of about `rooms` rooms, made and converged by an `apply` (or left so from an earlier scenario). */
export const convergedTenant = (s: Services, rooms: number) =>
  Effect.gen(function* () {
    // The economy scenario's tenant when it ran before in this run.
    const { runtime } = yield* seededTenant(s, `econ${rooms}`, Math.round(rooms / 0.9), { reuse: true })
    const cli = homeserversLayer(s)
    for (let round = 0; round < 3; round++) {
      const plan = yield* planPass({ tenants: [runtime], rooms: [] }, { concurrency: 8 }).pipe(Effect.provide(cli))
      if (plan.plan.rooms.every((room) => room.actions.length === 0)) break
      yield* say(`making the rooms of ${runtime.tenant.id}`)
      yield* reconcileAgain(plan, { concurrency: 8 }).pipe(Effect.provide(cli))
    }
    const plan = yield* planPass({ tenants: [runtime], rooms: [] }, { concurrency: 8 }).pipe(Effect.provide(cli))
    const eventRooms = plan.plan.rooms.flatMap((room) =>
      room.key.kind === "event" && room.roomId !== undefined && room.status === "in_sync"
        ? [{ event: Number(room.key.entityId), roomId: room.roomId }]
        : [],
    )
    return { runtime, rooms: plan.plan.rooms.filter((room) => room.roomId !== undefined).length, eventRooms }
  })

const MemberEvent = Schema.parseJson(
  Schema.Struct({ origin_server_ts: Schema.Number, content: Schema.Struct({ membership: Schema.String }) }),
)

/** When the user's invite landed in the room, as Synapse stamped it (undefined: not yet). */
const invitedAt = (s: Services, roomId: string, user: string) =>
  Effect.promise(async () => {
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(user)}`
    const response = await fetch(new URL(`${path}?format=event`, s.homeserverUrl), {
      headers: { authorization: `Bearer ${s.asToken}` },
    })
    const text = await response.text()
    if (!response.ok) return undefined
    const event = Schema.decodeUnknownOption(MemberEvent)(text)
    return event._tag === "Some" && event.value.content.membership === "invite"
      ? event.value.origin_server_ts
      : undefined
  })

type Mode = "triggers" | "polling" | "resync"

const modeEnv: Record<Mode, Record<string, string>> = {
  triggers: { RESYNC_INTERVAL: "1h" },
  polling: { RESYNC_INTERVAL: "1h" },
  resync: { RESYNC_INTERVAL: "60s", POLL_INTERVAL: "24h" },
}

const measureMode = (
  s: Services,
  runtime: TenantRuntime,
  rooms: ReadonlyArray<{ readonly event: number; readonly roomId: string }>,
  mode: Mode,
  changes: number,
  perSecond: number,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (mode === "triggers") yield* installTriggers([runtime.tenant], "matrix_reconciler_changes")
      else yield* uninstallTriggers([runtime.tenant])
      const daemon = yield* startDaemon(s, [runtime], modeEnv[mode])
      yield* daemon.converged(10_000, 1_800_000)
      const targets = rooms.slice(0, changes)
      const rows = yield* newAttendees(
        runtime,
        targets.map((room) => room.event),
      )
      const roomOf = new Map(targets.map((room) => [room.event, room.roomId]))
      yield* say(`convergence (${mode}): ${rows.length} changes at ${perSecond}/s`)
      const committed: Array<{ readonly roomId: string; readonly user: string; readonly at: number }> = []
      const started = Date.now()
      for (const [index, row] of rows.entries()) {
        const due = started + (index * 1000) / perSecond
        if (due > Date.now()) yield* sleep(due - Date.now())
        const at = yield* insertAttendee(runtime, row)
        committed.push({ roomId: roomOf.get(row.event) ?? "", user: row.matrixId, at })
      }
      const latencies = new Map<number, number>()
      const deadline = Date.now() + 300_000
      while (latencies.size < committed.length && Date.now() < deadline) {
        yield* sleep(1000)
        for (const [index, change] of committed.entries()) {
          if (latencies.has(index)) continue
          const at = yield* invitedAt(s, change.roomId, change.user)
          if (at !== undefined) latencies.set(index, at - change.at)
        }
      }
      const values = [...latencies.values()]
      return {
        mode,
        changes: committed.length,
        arrived: values.length,
        p50Ms: percentile(values, 50),
        p99Ms: percentile(values, 99),
        maxMs: Math.max(...values),
      }
    }),
  )

export const convergenceScenario = (s: Services, size: { readonly rooms: number; readonly changes: number }) =>
  Effect.gen(function* () {
    const { runtime, rooms, eventRooms } = yield* convergedTenant(s, size.rooms)
    const modes = ["triggers", "polling", "resync"] as const
    const results = []
    for (const [index, mode] of modes.entries()) {
      // Each mode gets rooms of its own: one change per room.
      const offset: number = index * size.changes
      results.push(yield* measureMode(s, runtime, eventRooms.slice(offset), mode, size.changes, 10))
    }
    yield* uninstallTriggers([runtime.tenant])
    return { rooms, perSecond: 10, modes: results }
  })
