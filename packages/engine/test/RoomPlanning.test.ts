/**
 * The plans made from what room identity found (RoomPlanning.ts), without Synapse: a room
 * is only written to when it was found and read; two keys that found one room block each
 * other (docs/operations.md, "Two rooms for one key").
 */
import type { RoomPlan } from "@openmeet-reconciler/core"
import { defaultPolicy, formatRoomKey, roomKey } from "@openmeet-reconciler/core"
import { describe, expect, it } from "vitest"
import type { TenantRuntime } from "../src/index.ts"
import type { Identified } from "../src/RoomIdentity.ts"
import { planIdentified, twoKeysOneRoom } from "../src/RoomPlanning.ts"
import { eventAlias, eventKey, eventOutcome } from "./eventOutcome.ts"
import { memoryBot, roomState } from "./memoryMatrix.ts"

const runtime: TenantRuntime = {
  tenant: { id: "t1", name: "t1", schema: "tenant_t1", serverName: "example.org" },
  policy: defaultPolicy,
  botUserId: memoryBot,
}
const context = { policy: defaultPolicy, serverName: "example.org", botUserId: memoryBot, kind: "event" } as const
const published = eventOutcome()
const failed = eventOutcome({ status: "archived" })
const desiredRoom = published._tag === "Desired" ? published.room : undefined
const unread = { desired: desiredRoom, actual: undefined, context }
const plan = (identified: Identified, outcome = published, archived: ReadonlyArray<string> = []) =>
  planIdentified(outcome, runtime, identified, new Set(archived))

describe("planIdentified: what identification found decides what may be done", () => {
  it("no room: created when the event may have one, else nothing", () => {
    const none = plan({ _tag: "None", claims: [] })
    expect([none.plan?.status, none.plan?.actions.map((a) => a.type), none.plan?.roomId]).toEqual([
      "missing",
      ["create_room"],
      undefined,
    ])
    expect(none.details).toEqual(unread)
    expect(plan({ _tag: "None", claims: [] }, eventOutcome({ status: "draft" })).plan).toBeUndefined()
  })

  it("located, not read (the desired state failed): an error plan naming the room, no action", () => {
    const { plan: located, details } = plan({ _tag: "Unread", roomId: "!r", claims: ["!r"] }, failed)
    expect([located?.status, located?.roomId, located?.actions]).toEqual(["error", "!r", []])
    expect(located?.conditions.map((c) => c.message)).toEqual(['tenant "t1", events id 42: unknown status "archived"'])
    expect(details).toEqual({ desired: undefined, actual: undefined, context })
    expect(plan({ _tag: "Unread", roomId: undefined, claims: [] }, failed).plan?.roomId).toBeUndefined()
    // Nothing to plan stays nothing, wherever the room is.
    const draft = eventOutcome({ status: "draft" })
    expect(plan({ _tag: "Unread", roomId: "!r", claims: ["!r"] }, draft).plan).toBeUndefined()
  })

  it("blocked: the message as a blocked condition, with the room adopt would take when there is one", () => {
    const blocked = plan({ _tag: "Blocked", roomId: "!r", message: "a person decides", adopt: "!r", claims: [] })
    expect(blocked.plan).toEqual({
      key: eventKey,
      alias: eventAlias,
      roomId: "!r",
      status: "blocked",
      actions: [],
      conditions: [{ type: "blocked", message: "a person decides", adopt: "!r" }],
      memberCount: 0,
      entitledCount: 0,
    })
    expect(blocked.details).toEqual(unread)
    const without = plan({ _tag: "Blocked", roomId: undefined, message: "a person decides", claims: [] })
    expect(without.plan?.conditions).toEqual([{ type: "blocked", message: "a person decides" }])
  })

  it("unreadable: an error condition, no action", () => {
    const { plan: error, details } = plan({ _tag: "Unreadable", roomId: "!r", message: "reading failed", claims: [] })
    expect([error?.status, error?.roomId, error?.actions, error?.conditions]).toEqual([
      "error",
      "!r",
      [],
      [{ type: "error", message: "reading failed" }],
    ])
    expect(details).toEqual(unread)
  })

  it("found: planned against the room as read; an archive is lifted only where the reconciler archived it", () => {
    const actual = roomState("!r", { botJoined: true, canonicalAlias: eventAlias, eventsDefault: 50 })
    const found: Identified = {
      _tag: "Found",
      roomId: "!r",
      via: "record",
      actual,
      aliasTarget: undefined,
      predecessors: [],
      claims: ["!r"],
    }
    const ours = plan(found, published, ["!r"])
    expect(ours.plan?.roomId).toBe("!r")
    expect(ours.plan?.actions.map((a) => a.type)).toContain("unarchive")
    expect(ours.details).toEqual({ desired: desiredRoom, actual, context })
    expect(plan(found, published, ["!other"]).plan?.actions.map((a) => a.type)).not.toContain("unarchive")
  })
})

describe("twoKeysOneRoom: two keys that found one room block each other", () => {
  const room = (entityId: string, roomId: string | undefined): RoomPlan => ({
    key: roomKey("t1", "event", entityId),
    alias: `#event-e${entityId}-t1:example.org`,
    roomId,
    status: "drifted",
    actions: [{ type: "kick", user: "@u:example.org", reason: "attendee status rejected is not entitled" }],
    conditions: [],
    memberCount: 3,
    entitledCount: 1,
  })
  const named = (roomId: string, others: string) =>
    `room ${roomId} is also the room of ${others} (a "matrixRoomId" copied between rows?): point each row at its own room (docs/operations.md, "Two rooms for one key")`

  it("both are blocked, naming each other; the rest are left as planned", () => {
    const rooms = [room("1", "!r"), room("2", "!s"), room("3", "!r"), room("4", undefined), room("5", undefined)]
    const checked = twoKeysOneRoom(rooms)
    expect(checked[0]).toEqual({
      ...room("1", "!r"),
      status: "blocked",
      actions: [],
      conditions: [{ type: "blocked", message: named("!r", formatRoomKey(roomKey("t1", "event", "3"))) }],
      memberCount: 0,
      entitledCount: 0,
    })
    expect(checked[2]?.conditions).toEqual([
      { type: "blocked", message: named("!r", formatRoomKey(roomKey("t1", "event", "1"))) },
    ])
    // Rooms of their own, and rooms not found yet, are untouched (the same plans).
    for (const i of [1, 3, 4]) expect(checked[i]).toBe(rooms[i])
  })

  it("three keys on one room: each names the other two", () => {
    const checked = twoKeysOneRoom([room("1", "!r"), room("2", "!r"), room("3", "!r")])
    expect(checked.map((plan) => plan.conditions[0]?.message)).toEqual([
      named("!r", "event:t1:2, event:t1:3"),
      named("!r", "event:t1:1, event:t1:3"),
      named("!r", "event:t1:1, event:t1:2"),
    ])
  })
})
