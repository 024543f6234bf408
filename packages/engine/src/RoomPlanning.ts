import type { DesiredOutcome, RoomPlan } from "@openmeet-reconciler/core"
import { conditionPlan, formatRoomKey, planRoom } from "@openmeet-reconciler/core"
import type { RoomDetails, TenantRuntime } from "./Pass.ts"
import { aliasOf, contextOf, keyOf } from "./Pass.ts"
import type { Identified } from "./RoomIdentity.ts"

/** One room's plan from its desired state and what identifying its room found (pure). */
export const planIdentified = (
  outcome: DesiredOutcome,
  runtime: TenantRuntime,
  identified: Identified,
  archivedByReconciler: ReadonlySet<string>,
): { readonly plan: RoomPlan | undefined; readonly details: RoomDetails } => {
  const key = keyOf(outcome)
  const context = contextOf(runtime, key)
  // Stryker disable next-line ConditionalExpression: 'true' is equivalent, a failed outcome has no room, so it reads undefined too; 'false', disabled with it, was killed
  const desired = outcome._tag === "Desired" ? outcome.room : undefined
  const unread = { desired, actual: undefined, context }
  const where = { key, alias: aliasOf(outcome) }
  switch (identified._tag) {
    // Stryker disable next-line ConditionalExpression: equivalent, None falling through to Unread sets the roomId it has, undefined
    case "None":
      return { plan: planRoom(outcome, undefined, context), details: unread }
    case "Unread": {
      // A room whose desired state failed is located (so never taken for an orphan), never read.
      const plan = planRoom(outcome, undefined, context)
      return { plan: plan === undefined ? plan : { ...plan, roomId: identified.roomId }, details: unread }
    }
    case "Blocked": {
      const plan = conditionPlan({ ...where, roomId: identified.roomId }, "blocked", identified.message)
      const adopt = identified.adopt
      return {
        plan:
          // Stryker disable next-line ConditionalExpression: 'false' is equivalent, a condition whose adopt is undefined names no room, as one without; 'true', disabled with it, was killed
          adopt === undefined
            ? plan
            : { ...plan, conditions: plan.conditions.map((condition) => ({ ...condition, adopt })) },
        details: unread,
      }
    }
    case "Unreadable":
      return {
        plan: conditionPlan({ ...where, roomId: identified.roomId }, "error", identified.message),
        details: unread,
      }
    case "Found": {
      const plan = planRoom(outcome, identified.actual, context, {
        aliasTarget: identified.aliasTarget,
        predecessors: identified.predecessors,
        archivedByReconciler: archivedByReconciler.has(identified.roomId),
      })
      return { plan, details: { desired, actual: identified.actual, context } }
    }
  }
}

/**
 * Two keys that found one room (a `"matrixRoomId"` copied between rows): neither plan may
 * run, since each would undo the other. Both are blocked, naming each other.
 */
export const twoKeysOneRoom = (rooms: ReadonlyArray<RoomPlan>): ReadonlyArray<RoomPlan> => {
  const byRoom = new Map<string, Array<string>>()
  for (const room of rooms) {
    // Stryker disable next-line ConditionalExpression: 'false' is equivalent, rooms without an id are grouped under undefined but never looked up by it; 'true', disabled with it, was killed
    if (room.roomId === undefined) continue
    byRoom.set(room.roomId, [...(byRoom.get(room.roomId) ?? []), formatRoomKey(room.key)])
  }
  return rooms.map((room) => {
    // Stryker disable next-line ConditionalExpression,ArrayDeclaration: equivalent, a room without an id finds no keys either way, and every id was grouped (fewer than two keys change nothing); 'true', disabled with it, was killed
    const keys = room.roomId === undefined ? [] : (byRoom.get(room.roomId) ?? [])
    if (keys.length < 2) return room
    const others = keys.filter((key) => key !== formatRoomKey(room.key)).join(", ")
    return conditionPlan(
      room,
      "blocked",
      `room ${room.roomId} is also the room of ${others} (a "matrixRoomId" copied between rows?): point each row at its own room (docs/operations.md, "Two rooms for one key")`,
    )
  })
}
