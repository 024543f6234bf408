import type { RoomCount, RoomKindLabel, RoomPlan } from "@openmeet-reconciler/core"
import { formatRoomKey, Telemetry } from "@openmeet-reconciler/core"
import { Context, Effect, Layer } from "effect"

/**
 * What the controller knows of each room from the plans it made: which key a room id
 * belongs to (appservice events name rooms), each room's status and held actions (the
 * `reconciler_rooms` and `reconciler_destructive_actions_held` gauges), and when a worker
 * last finished each key (a full resync's older view of it is not recorded).
 */
export interface RoomStatusService {
  /** Remembers what these plans say of their rooms and publishes the gauges. */
  readonly remember: (rooms: ReadonlyArray<RoomPlan>) => Effect.Effect<void>
  /** Forgets the keys of these complete tenants that a full pass no longer has (unless `keep`). */
  readonly forgetOthers: (
    tenants: ReadonlyArray<string>,
    present: ReadonlySet<string>,
    keep: (key: string) => boolean,
  ) => Effect.Effect<void>
  /** The key a room belongs to, as far as known. */
  readonly keyOfRoom: (roomId: string) => string | undefined
  /** Rooms the reconciler's records place, before any plan named them. */
  readonly learn: (rooms: Iterable<{ readonly roomId: string; readonly key: string }>) => void
  readonly finished: (key: string, at: number) => void
  /** When a worker last finished the key (0: never). */
  readonly finishedAt: (key: string) => number
}

export class RoomStatus extends Context.Tag("@openmeet-reconciler/engine/RoomStatus")<RoomStatus, RoomStatusService>() {
  /**
   * For the tenants the controller leads. When it stops, its gauges go to zero: a replica
   * that does not lead reports no rooms, so sums over replicas stay true.
   */
  static readonly layer = (tenants: ReadonlyArray<string>) =>
    Layer.scoped(
      RoomStatus,
      Effect.gen(function* () {
        const telemetry = yield* Telemetry
        const keyOfRoom = new Map<string, string>()
        const statuses = new Map<string, RoomCount>()
        const held = new Map<string, number>()
        const finishedAt = new Map<string, number>()
        // The held gauge sums every controller (one per tenant led): this one reports its part.
        let reportedHeld = 0
        const publish = () => {
          telemetry.rooms(tenants, [...statuses.values()])
          let total = 0
          for (const n of held.values()) total += n
          telemetry.heldChanged(total - reportedHeld)
          reportedHeld = total
        }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            statuses.clear()
            held.clear()
            publish()
          }),
        )
        return {
          remember: (rooms) =>
            Effect.sync(() => {
              for (const room of rooms) {
                const key = formatRoomKey(room.key)
                if (room.roomId !== undefined && room.key.kind !== "orphan") keyOfRoom.set(room.roomId, key)
                statuses.set(key, { tenant: room.key.tenant, kind: room.key.kind, status: room.status })
                const heldCount = room.actions.filter((a) => a.held === true).length
                if (heldCount > 0) held.set(key, heldCount)
                else held.delete(key)
              }
              publish()
            }),
          forgetOthers: (complete, present, keep) =>
            Effect.sync(() => {
              for (const [key, entry] of statuses) {
                if (complete.includes(entry.tenant) && !present.has(key) && !keep(key)) {
                  statuses.delete(key)
                  held.delete(key)
                }
              }
              publish()
            }),
          keyOfRoom: (roomId) => keyOfRoom.get(roomId),
          learn: (rooms) => {
            for (const { roomId, key } of rooms) keyOfRoom.set(roomId, key)
          },
          finished: (key, at) => void finishedAt.set(key, at),
          finishedAt: (key) => finishedAt.get(key) ?? 0,
        }
      }),
    )
}

/** The `kind` label of a room key's text (`event:t:1` → `event`). */
export const kindOfKey = (key: string): RoomKindLabel =>
  key.startsWith("group:") ? "group" : key.startsWith("orphan:") ? "orphan" : "event"
