/**
 * Hostile Matrix state, at the boundary where the reconciler reads it: a room's state as
 * `GET /rooms/{id}/state` returns it, decoded (decodeRoomState) and planned (planRoom,
 * gateTenant). Power levels of every wrong type a legacy room can hold (a current
 * Synapse refuses to write most of them, so they come as the homeserver would return
 * them), unreadable events, and 50,000-member rooms. Expected each time: a decision
 * Synapse would make the same way, or the room blocked; never a kick or a demotion of
 * someone OpenMeet entitles, never an exception.
 */
import type { DesiredOutcome, RoomPlan } from "@openmeet-reconciler/core"
import { defaultPolicy, gateTenant, planRoom } from "@openmeet-reconciler/core"
import { decodeRoomState } from "@openmeet-reconciler/matrix"
import { reliabilityCase } from "@openmeet-reconciler/testing"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { alias, bot, context, desired, roomId, stateEvent, u, wantedLevels } from "./hostileRoom.ts"

const event = stateEvent

/** A room in the desired settings whose power levels are `levels`, with u1–u4 joined. */
const stateWith = (levels: unknown, version = "10", extra: ReadonlyArray<ReturnType<typeof event>> = []) => [
  event("m.room.create", { room_version: version, creator: bot }),
  event("m.room.join_rules", { join_rule: "invite" }),
  event("m.room.history_visibility", { history_visibility: "shared" }),
  event("m.room.guest_access", { guest_access: "forbidden" }),
  event("m.room.name", { name: "Hostile" }),
  event("m.room.canonical_alias", { alias }),
  event("m.room.member", { membership: "join" }, bot),
  ...[1, 2, 3, 4].map((n) => event("m.room.member", { membership: "join" }, u(n), u(n))),
  ...(levels === undefined ? [] : [event("m.room.power_levels", levels)]),
  ...extra,
]

const levels = (users: unknown, rest: Record<string, unknown> = {}) => ({
  ban: 50,
  kick: 50,
  invite: 0,
  redact: 50,
  events_default: 0,
  state_default: 50,
  users_default: 0,
  events: { "m.room.power_levels": 100, "m.room.name": 50 },
  users,
  ...rest,
})

const planOf = (body: unknown, outcome: DesiredOutcome = desired()): RoomPlan | string => {
  const actual = decodeRoomState(roomId, body)
  if (Either.isLeft(actual)) return actual.left
  return planRoom(outcome, actual.right, context) ?? "no plan"
}

/** Actions as `type user`, power-levels writes as `levels user:from>to …`. */
const summary = (plan: RoomPlan): ReadonlyArray<string> =>
  plan.actions.map((a) =>
    "user" in a
      ? `${a.type} ${a.user}${a.held === true ? " (held)" : ""}`
      : "changes" in a
        ? `levels ${Object.entries(a.changes)
            .map(([user, c]) => `${user}:${c.from}>${c.to}`)
            .join(" ")}`
        : a.type,
  )

const entitled = Object.keys(wantedLevels)

/** Kicks of entitled users, and level changes that take an entitled user anywhere but their role's level. */
const harm = (plan: RoomPlan): ReadonlyArray<string> =>
  plan.actions.flatMap((a) => {
    if (a.type === "kick" && entitled.includes(a.user)) return [`kick ${a.user}`]
    if ("changes" in a) {
      return Object.entries(a.changes)
        .filter(([user, c]) => entitled.includes(user) && c.to !== wantedLevels[user])
        .map(([user, c]) => `${user} ${c.from}>${c.to}`)
    }
    return []
  })

interface StateCase {
  readonly name: string
  readonly body: unknown
  /** The plan's actions (see `summary`), or `unreadable` for a body that fails to decode. */
  readonly actions: ReadonlyArray<string> | "unreadable"
  readonly status?: RoomPlan["status"]
  /** Text one of the conditions (or the decoding error) contains. */
  readonly says?: string
}

const kick4 = `kick ${u(4)}`
let deep: unknown = 1
for (let i = 0; i < 100_000; i++) deep = [deep]

const cases: ReadonlyArray<StateCase> = [
  {
    name: "power_levels.users is a list",
    body: stateWith(levels([u(1), 50])),
    actions: [],
    status: "blocked",
    says: '"users" is a list, not a map',
  },
  {
    name: "power_levels.users is a string",
    body: stateWith(levels("u1")),
    actions: [],
    status: "blocked",
    says: '"users" is string, not a map',
  },
  {
    name: "power_levels.users is null",
    body: stateWith(levels(null)),
    actions: [],
    status: "blocked",
    says: '"users" is null, not a map',
  },
  {
    name: "a level that is a float (50.7)",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50.7 })),
    actions: [kick4],
    says: "",
  },
  {
    name: 'a level that is a numeric string ("50")',
    body: stateWith(levels({ [bot]: 100, [u(1)]: "50" })),
    actions: [kick4],
  },
  {
    name: 'a level that is a word ("fifty")',
    body: stateWith(levels({ [bot]: 100, [u(1)]: "fifty" })),
    actions: [],
    status: "blocked",
    says: 'is "fifty", not a level',
  },
  {
    name: "a level of 1e20 (above the bot)",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 1e20 })),
    actions: [kick4],
    // Entitled (to 50), so kept where they are (level_kept), not a blocked room.
    status: "drifted",
    says: `${u(1)} keeps level 100000000000000000000 (their role gives 50)`,
  },
  {
    name: "a level of -1e20",
    body: stateWith(levels({ [bot]: 100, [u(1)]: -1e20 })),
    actions: [`levels ${u(1)}:-100000000000000000000>50`, kick4],
  },
  {
    name: "a level that is true",
    body: stateWith(levels({ [bot]: 100, [u(1)]: true })),
    actions: [`levels ${u(1)}:1>50`, kick4],
  },
  {
    name: "a level that is null (users_default, as Synapse reads it)",
    body: stateWith(levels({ [bot]: 100, [u(1)]: null })),
    actions: [`levels ${u(1)}:0>50`, kick4],
  },
  {
    name: "users_default 50: attendees written at 0",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }, { users_default: 50 })),
    actions: [`levels ${u(2)}:50>0 ${u(3)}:50>0`, kick4],
  },
  {
    name: 'users_default "0"',
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }, { users_default: "0" })),
    actions: [kick4],
  },
  {
    name: 'the kick level as a string ("50")',
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }, { kick: "50" })),
    actions: [kick4],
  },
  {
    name: "the kick level as a list",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }, { kick: [50] })),
    actions: [],
    status: "blocked",
    says: "power level kick is [50], not a level",
  },
  {
    name: "power_levels.events is a list",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }, { events: [] })),
    actions: [],
    status: "blocked",
    says: '"events" is a list, not a map',
  },
  {
    name: "the bot below the kick level",
    body: stateWith(levels({ [bot]: 40, [u(1)]: 50 })),
    actions: [],
    status: "blocked",
    says: "bot lacks power",
  },
  {
    name: "an attendee at the bot's level",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50, [u(2)]: 100 })),
    actions: [kick4],
    status: "blocked",
    says: `cannot demote ${u(2)}`,
  },
  {
    name: "no power-levels event at all",
    body: stateWith(undefined),
    actions: [],
    status: "blocked",
    says: "bot lacks power",
  },
  {
    name: "a room version 12 whose creator is also listed in users",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }), "12"),
    actions: [kick4],
  },
  {
    name: "a member event with a membership Matrix does not have",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }), "10", [
      event("m.room.member", { membership: "superjoin" }, u(5), u(5)),
    ]),
    actions: [kick4],
  },
  {
    name: "a member event with an empty state_key",
    body: stateWith(levels({ [bot]: 100, [u(1)]: 50 }), "10", [
      event("m.room.member", { membership: "join" }, "", u(6)),
    ]),
    actions: [kick4],
  },
  {
    name: "an event without a sender",
    body: [{ type: "m.room.name", state_key: "", content: {} }],
    actions: "unreadable",
    says: "sender: is missing",
  },
  { name: "an event nested 100,000 levels deep", body: [deep], actions: "unreadable", says: "Expected" },
  {
    name: "an unreadable event holding a secret",
    body: [{ type: 5, state_key: "", sender: bot, content: { note: "s3cr3t-token" } }],
    actions: "unreadable",
    says: "type: Expected string",
  },
  {
    name: "a state body that is an object",
    body: { events: [] },
    actions: "unreadable",
    says: "Expected ReadonlyArray",
  },
]

describe("hostile room state, decoded and planned", () => {
  it.each(cases)("$name", async (c) => {
    await reliabilityCase(
      {
        class: "hostile-matrix",
        case: c.name,
        expected:
          c.actions === "unreadable"
            ? "the room read fails with the reason, nothing done"
            : `${c.status ?? "drifted"}${c.says === undefined || c.says === "" ? "" : `: ${c.says}`}`,
      },
      async (measure) => {
        measure.faults = 1
        const plan = planOf(c.body)
        if (typeof plan === "string") {
          expect(c.actions).toBe("unreadable")
          expect(plan).toContain(c.says ?? "")
          expect(plan).not.toContain("s3cr3t")
          measure.survived = 1
          return
        }
        measure.wrongKicks = harm(plan).length
        expect(harm(plan)).toEqual([])
        expect(summary(plan)).toEqual(c.actions)
        if (c.status !== undefined) expect(plan.status).toBe(c.status)
        if (c.says !== undefined) expect(plan.conditions.map((x) => x.message).join("; ")).toContain(c.says)
        measure.survived = 1
      },
    )
  })
})

/** A room with `members` users joined (u1000 …), levels as given. */
const bigRoom = (members: number) => [
  ...stateWith(levels({ [bot]: 100 })).filter((e) => e.type !== "m.room.member" || e.state_key === bot),
  ...Array.from({ length: members }, (_, i) =>
    event("m.room.member", { membership: "join" }, u(1000 + i), u(1000 + i)),
  ),
]

const gate = (plan: RoomPlan, desiredEmpty?: boolean) =>
  gateTenant(
    {
      tenant: "t1",
      limits: defaultPolicy.limits,
      rooms: [plan],
      ...(desiredEmpty === undefined ? {} : { desiredEmpty }),
    },
    { confirmDestructive: false, allowEmpty: false },
  ).rooms[0]

const fiftyK = 50_000
const big = bigRoom(fiftyK)
const entitledOf = (count: number) => desired(Array.from({ length: count }, (_, i) => [u(1000 + i), 0] as const))

describe("rooms of 50,000 members", () => {
  const bigCases: ReadonlyArray<{
    readonly name: string
    readonly entitled: number
    readonly kicks: number
    readonly allowed: number
  }> = [
    { name: "50,000 members, all entitled: nothing to do", entitled: fiftyK, kicks: 0, allowed: 0 },
    { name: "50,000 members, 10 no longer entitled: 10 kicks", entitled: fiftyK - 10, kicks: 10, allowed: 10 },
    {
      name: "50,000 members, 12,000 no longer entitled: the pass's cap (100) lets 100 through, the rest held",
      entitled: fiftyK - 12_000,
      kicks: 12_000,
      allowed: 100,
    },
    {
      name: "50,000 members, OpenMeet says nobody: every kick held (suspect empty)",
      entitled: 0,
      kicks: fiftyK,
      allowed: 0,
    },
  ]
  it.each(bigCases)("$name", async (c) => {
    await reliabilityCase(
      {
        class: "hostile-matrix",
        case: c.name,
        expected: `${c.kicks} kick(s) planned, ${c.allowed} let through by the caps`,
      },
      async (measure) => {
        measure.faults = 1
        const plan = planOf(big, entitledOf(c.entitled))
        if (typeof plan === "string") throw new Error(plan)
        const gated = gate(plan)
        if (gated === undefined) throw new Error("no gated room")
        const kicks = gated.actions.filter((a) => a.type === "kick")
        const allowed = kicks.filter((a) => a.held !== true)
        // Only the users past the entitled ones are ever kicked.
        const wrong = kicks.filter((a) => a.type === "kick" && Number(/u(\d+):/.exec(a.user)?.[1]) - 1000 < c.entitled)
        measure.wrongKicks = wrong.length
        expect(wrong).toEqual([])
        expect([kicks.length, allowed.length]).toEqual([c.kicks, c.allowed])
        expect(gated.actions.filter((a) => a.type !== "kick")).toEqual([])
        measure.survived = 1
      },
    )
  })
})
