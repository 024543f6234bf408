import type {
  Action,
  ActualMember,
  ActualRoom,
  DesiredMember,
  DesiredRoom,
  Membership,
  PlannedAction,
  Policy,
  RoomContext,
  RoomPlan,
} from "../src/index.ts"
import { defaultPolicy, planRoom, roomKey } from "../src/index.ts"

export const server = "example.org"
export const bot = `@openmeet-bot:${server}`
export const alias = `#event-party-t1:${server}`
export const u = (name: string): string => `@${name}:${server}`

export const context = (policy: Partial<Policy> = {}): RoomContext => ({
  policy: { ...defaultPolicy, ...policy },
  serverName: server,
  botUserId: bot,
  kind: "event",
})

/** A desired event room; members as [user, level, reason?]. */
export const desiredRoom = (
  members: ReadonlyArray<readonly [string, number, string?]>,
  overrides: Partial<DesiredRoom> = {},
): DesiredRoom => ({
  key: roomKey("t1", "event", "42"),
  alias,
  name: "Party",
  joinRule: "public",
  historyVisibility: "shared",
  guestAccess: "forbidden",
  mayCreate: true,
  archived: false,
  roomIdHint: undefined,
  members: new Map(
    members.map(([userId, level, reason]): [string, DesiredMember] => [
      userId,
      { userId, level, reason: reason ?? "attendee status confirmed" },
    ]),
  ),
  excluded: new Map(),
  undecided: new Map(),
  undecidedRows: [],
  ...overrides,
})

export const defaultPowerLevels = (users: Readonly<Record<string, number>>) => ({
  ban: 50,
  kick: 50,
  invite: 0,
  redact: 50,
  events_default: 0,
  state_default: 50,
  users_default: 0,
  events: { "m.room.power_levels": 100, "m.room.name": 50 },
  users: { [bot]: 100, ...users },
})

/** An actual room that matches `desiredRoom`'s settings; members as [user, membership, sender?]. */
export const actualRoom = (
  members: ReadonlyArray<readonly [string, Membership, string?]>,
  users: Readonly<Record<string, number>> = {},
  overrides: Partial<ActualRoom> = {},
): ActualRoom => ({
  roomId: "!room:example.org",
  roomVersion: "11",
  creators: [bot],
  members: new Map(
    [[bot, "join", bot] as const, ...members].map(([userId, membership, sender]): [string, ActualMember] => [
      userId,
      { userId, membership, sender: sender ?? (membership === "invite" ? bot : userId) },
    ]),
  ),
  powerLevels: defaultPowerLevels(users),
  name: "Party",
  joinRule: "public",
  historyVisibility: "shared",
  guestAccess: "forbidden",
  canonicalAlias: alias,
  altAliases: [],
  encrypted: false,
  successor: undefined,
  ...overrides,
})

/** The plan for one room; fails the test when nothing is managed for it. */
export const plan = (...args: Parameters<typeof planRoom>): RoomPlan => {
  const result = planRoom(...args)
  if (result === undefined) throw new Error("expected a plan")
  return result
}

/** Actions as `type` or `type user`, for compact expectations. */
export const types = (actions: ReadonlyArray<Action>) =>
  actions.map((a) => ("user" in a ? `${a.type} ${a.user}` : a.type))

/** A room of a plan as the safety gate sees it: its actions, members and entitled users. */
export const gateRoom = (
  id: string,
  actions: ReadonlyArray<PlannedAction>,
  memberCount: number,
  entitledCount = 1,
): RoomPlan => ({
  key: roomKey("t1", "event", id),
  alias: undefined,
  roomId: `!${id}:example.org`,
  status: "drifted",
  actions,
  conditions: [],
  memberCount,
  entitledCount,
})
