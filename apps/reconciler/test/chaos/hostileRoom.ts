/**
 * One managed event room, for the tests that feed the planner hostile state: u1 a
 * moderator (50), u2 and u3 attendees (0), u4 joined without a row (a kick, in an
 * invite-only room); state events as `GET /rooms/{id}/state` returns them.
 */
import type { DesiredOutcome, RoomContext } from "@openmeet-reconciler/core"
import { defaultPolicy, roomKey } from "@openmeet-reconciler/core"

export const server = "openmeet.test"
export const bot = `@openmeet-bot:${server}`
export const u = (n: number) => `@t1.u${n}:${server}`
export const roomId = "!hostile:openmeet.test"
export const alias = `#event-hostile-t1:${server}`
export const context: RoomContext = { policy: defaultPolicy, serverName: server, botUserId: bot, kind: "event" }

/** The levels OpenMeet gives u1–u3. */
export const wantedLevels: Readonly<Record<string, number>> = { [u(1)]: 50, [u(2)]: 0, [u(3)]: 0 }

/** The desired room with these members (user, level); by default u1–u3 at their levels. */
export const desired = (
  members: ReadonlyArray<readonly [string, number]> = Object.entries(wantedLevels),
): DesiredOutcome => ({
  _tag: "Desired",
  room: {
    key: roomKey("t1", "event", "1"),
    alias,
    name: "Hostile",
    joinRule: "invite",
    historyVisibility: "shared",
    guestAccess: "forbidden",
    mayCreate: true,
    archived: false,
    roomIdHint: undefined,
    members: new Map(
      members.map(([userId, level]) => [userId, { userId, level, reason: "attendee status confirmed" }]),
    ),
    excluded: new Map(),
    undecided: new Map(),
    undecidedRows: [],
  },
})

/** A state event as the homeserver returns it. */
export const stateEvent = (type: string, content: unknown, stateKey = "", sender = bot) => ({
  type,
  state_key: stateKey,
  sender,
  content,
  event_id: `$${type}${stateKey}`,
  room_id: roomId,
})
