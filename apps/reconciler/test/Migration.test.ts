/**
 * docs/migrating-from-openmeet.md, step by step, against a tenant run the way OpenMeet runs
 * today: its tenant list names the homeserver and the appservice, and its rooms are built
 * as OpenMeet's listeners (and its older bot identity) built them.
 */
import { readFileSync } from "node:fs"
import { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import {
  addAttendee,
  addEvent,
  addGroup,
  addGroupMember,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { legacyRoom, registerServerAdmin, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { cliEnv, runCli } from "./cli.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s } = harness()
const bot = services.botUserId
const start = daemonStarter()

const json = (text: string): Record<string, unknown> => {
  const value: unknown = JSON.parse(text)
  if (!isRecord(value)) throw new Error(`not a JSON object: ${text}`)
  return value
}
const records = (value: unknown): ReadonlyArray<Record<string, unknown>> =>
  Array.isArray(value) ? value.filter(isRecord) : []
const sql = (query: string) => db.runPromise(Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(query)))

/** `type` or `type user` of each planned action, and the condition types, per short key (`event:1`). */
const planned = (plan: Record<string, unknown>) =>
  Object.fromEntries(
    records(plan.rooms).map((room) => [
      String(room.key).replace(/:[^:]*:/, ":"),
      {
        status: room.status,
        actions: records(room.actions).map((a) => (a.user === undefined ? String(a.type) : `${a.type} ${a.user}`)),
        conditions: records(room.conditions).map((c) => String(c.type)),
      },
    ]),
  )

/** OpenMeet today: its rows, and the rooms its listeners made from them. */
const openMeetToday = async (tenant: Tenant) => {
  const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
  const alias = (kind: "event" | "group", slug: string) => `#${kind}-${slug}-${tenant.id}:${s}`
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3, 4, 5, 6, 7, 8]) yield* addUser(tenant, { id })
      // 1: a public event. 2: a private one. 3: two rooms. 4: the older bot's. 5: upgraded. 6: cancelled.
      for (const [id, slug, visibility, status] of [
        [1, "party", "public", "published"],
        [2, "private", "private", "published"],
        [3, "stale", "private", "published"],
        [4, "older", "private", "published"],
        [5, "upgraded", "private", "published"],
        [6, "gone", "public", "cancelled"],
      ] as const) {
        yield* addEvent(tenant, { id, slug, visibility, status, userId: 1 })
        yield* addAttendee(tenant, { eventId: id, userId: 1, status: "confirmed", role: "host" })
        yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
      }
      yield* addAttendee(tenant, { eventId: 1, userId: 3, status: "rejected" })
      yield* addAttendee(tenant, { eventId: 1, userId: 4, status: "confirmed" })
      yield* addAttendee(tenant, { eventId: 1, userId: 5, status: "confirmed" })
      yield* addGroup(tenant, { id: 1, slug: "club" })
      for (const [userId, role] of [
        [1, "owner"],
        [2, "admin"],
        [3, "guest"],
      ] as const) {
        yield* addGroupMember(tenant, { groupId: 1, userId, role })
      }
    }),
  )
  for (const n of [3, 6]) await synapse.register(`${tenant.id}.u${n}`)
  const room = (slug: string, id: number, extra: Partial<Parameters<typeof legacyRoom>[2]> = {}) =>
    legacyRoom(synapse, bot, {
      alias: alias("event", slug),
      name: `Event ${id}`,
      joinRule: "invite",
      users: { [mx(1)]: 100 },
      invite: [mx(1), mx(2)],
      ...extra,
    })
  // The rejected attendee joined; the moderator OpenMeet once made keeps 50; a quick RSVP (u4) was never invited.
  const party = await room("party", 1, {
    joinRule: "public",
    users: { [mx(1)]: 100, [mx(5)]: 50 },
    invite: [mx(1), mx(2), mx(3), mx(5)],
  })
  await synapse.joinAs(mx(3), party)
  // The creation path of this private event chose the public rule; older private rooms are encrypted.
  await room("private", 2, { joinRule: "public", encrypted: true })
  // The alias's room, and another one a listener made and wrote into "matrixRoomId".
  await room("stale", 3)
  const strayRoom = await legacyRoom(synapse, bot, { name: "Event 3", joinRule: "invite", invite: [mx(2)] })
  await sql(`UPDATE "${tenant.schema}".events SET "matrixRoomId" = '${strayRoom}' WHERE id = 3`)
  // OpenMeet's older bot identity made this one; ours is not in it.
  const older = await synapse.register(`openmeet-bot-${tenant.id}`)
  const olderRoom = await room("older", 4, { creator: older })
  // Upgraded (Synapse moves the alias) after OpenMeet wrote the old room into "matrixRoomId".
  const before = await room("upgraded", 5, { roomVersion: "10" })
  await synapse.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent(before)}/upgrade`, { new_version: "11" })
  await sql(`UPDATE "${tenant.schema}".events SET "matrixRoomId" = '${before}' WHERE id = 5`)
  await room("gone", 6, { joinRule: "public" })
  // Group rooms: the owner at 100, the admin at 75, and a guest (a pending request) invited.
  await legacyRoom(synapse, bot, {
    alias: alias("group", "club"),
    name: "Group 1",
    joinRule: "public",
    users: { [mx(1)]: 100, [mx(2)]: 75 },
    invite: [mx(1), mx(2), mx(3)],
  })
  return { mx, alias, party, strayRoom, olderRoom }
}

describe("switching over from OpenMeet's bot (docs/migrating-from-openmeet.md)", () => {
  it("plan read-only first, reuse OpenMeet's registration, adopt, apply: the first apply's conditions and actions", async () => {
    // OpenMeet's tenant list names the homeserver and the appservice for every tenant.
    const tenant: Tenant = {
      ...fixtureTenant(uniqueTenantId("mig"), s),
      homeserverUrl: services.homeserverUrl,
      appserviceId: "openmeet-bot",
      asToken: Redacted.make(services.asToken),
      hsToken: Redacted.make(services.hsToken),
    }
    const { mx, alias, party, olderRoom } = await openMeetToday(tenant)
    const schema = `mig_${tenant.id}`
    const settings = { TENANTS_B64: tenantsB64([tenant]), RECONCILER_SCHEMA: schema }
    const env = cliEnv(services, settings)

    // 1. A read-only plan, as a role that may only SELECT: nothing changes anywhere.
    const role = `ro_${tenant.id}`
    await sql(`CREATE ROLE ${role} LOGIN;
      GRANT USAGE ON SCHEMA public, "${tenant.schema}" TO ${role};
      GRANT SELECT ON ALL TABLES IN SCHEMA "${tenant.schema}" TO ${role};
      GRANT SELECT ON public."matrixHandleRegistry" TO ${role}`)
    const readOnly = new URL(services.databaseUrl)
    readOnly.username = role
    readOnly.password = ""
    const stateBefore = JSON.stringify(await synapse.state(party))
    const first = await runCli(["plan", "--output", "json"], { ...env, DATABASE_URL: readOnly.href })
    await sql(`DROP OWNED BY ${role}; DROP ROLE ${role}`)
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    expect(JSON.stringify(await synapse.state(party))).toBe(stateBefore)
    const [created] = await db.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (client) => client`SELECT to_regclass(${`${schema}.rooms`}) AS t`),
    )
    expect(created?.t).toBeNull()
    const firstPlan = json(first.stdout)
    expect(planned(firstPlan)).toEqual({
      "event:1": {
        status: "drifted",
        actions: ["set_power_levels", `invite ${mx(4)}`, `kick ${mx(3)}`],
        conditions: ["level_kept"],
      },
      "event:2": { status: "drifted", actions: ["set_join_rule"], conditions: ["encrypted", "level_kept"] },
      "event:3": { status: "blocked", actions: [], conditions: ["blocked"] },
      "event:4": { status: "blocked", actions: [], conditions: ["blocked"] },
      "event:5": { status: "drifted", actions: [`invite ${mx(1)}`, `invite ${mx(2)}`], conditions: ["level_kept"] },
      "event:6": { status: "drifted", actions: ["set_name", "archive"], conditions: ["level_kept"] },
      "group:1": { status: "drifted", actions: [`kick ${mx(3)}`], conditions: ["level_kept"] },
    })
    const moderator = records(records(firstPlan.rooms)[0]?.actions)[0]
    expect(moderator).toMatchObject({ changes: { [mx(5)]: { from: 50, to: 0 } } })
    const messages = records(firstPlan.rooms).flatMap((room) => records(room.conditions).map((c) => String(c.message)))
    expect(messages).toContainEqual(expect.stringContaining("two rooms for one event"))
    expect(messages).toContainEqual(expect.stringContaining(`the bot is not in room ${olderRoom}`))

    // 2. Reuse OpenMeet's registration: same id, sender, tokens and namespaces; only the url is ours.
    const printed = await runCli(["registration", "--namespaces", "openmeet", "--url", "http://reconciler:9000"], env)
    expect(printed.code).toBe(0)
    const openMeet: unknown = parse(readFileSync(services.registrationPath, "utf8"))
    const ours: unknown = parse(printed.stdout)
    if (!isRecord(openMeet) || !isRecord(ours)) throw new Error("registrations are not mappings")
    expect({ ...ours, url: openMeet.url }).toEqual({ ...openMeet, rate_limited: false })
    expect(ours.url).toBe("http://reconciler:9000")

    // 3. Adopt the older bot's room with a server admin's token.
    const admin = await registerServerAdmin(services, `admin-${tenant.id}`)
    const adopted = await runCli(["adopt", "--confirm", "--output", "json"], {
      ...env,
      SYNAPSE_ADMIN_TOKEN: admin.accessToken,
    })
    expect(adopted.stderr).toBe("")
    expect(records(json(adopted.stdout).rooms).filter((room) => room.result === "adopted")).toMatchObject([
      { key: `event:${tenant.id}:4`, adopt: olderRoom },
    ])

    // 4. The first apply: exactly what the plan said, the two rooms of event 3 left alone.
    const applied = await runCli(["apply", "--output", "json"], env)
    expect(applied.stderr).toBe("")
    expect(applied.code).toBe(0)
    const result = json(applied.stdout)
    const actions = records(Reflect.get(Object(result.apply), "actions")).map((a) => {
      const action = isRecord(a.action) ? a.action : {}
      return `${String(a.key).replace(/:[^:]*:/, ":")} ${action.type}${action.user === undefined ? "" : ` ${action.user}`} ${a.result}`
    })
    expect(actions).toEqual([
      "event:1 set_power_levels applied",
      `event:1 invite ${mx(4)} applied`,
      `event:1 kick ${mx(3)} applied`,
      "event:2 set_join_rule applied",
      `event:5 invite ${mx(1)} applied`,
      `event:5 invite ${mx(2)} applied`,
      "event:6 set_name applied",
      "event:6 archive applied",
      `group:1 kick ${mx(3)} applied`,
    ])
    expect(planned(json(JSON.stringify(result.plan)))["event:3"]).toMatchObject({ status: "blocked" })
    expect((await synapse.memberships(party))[mx(3)]).toBe("leave")

    // The daemon answers alias queries: an event published after the switch-over gets its room on demand.
    const daemon = start(daemonEnv(services, settings))
    await ready(daemon)
    await db.runPromise(addEvent(tenant, { id: 7, slug: "after", userId: 1 }))
    // No other trigger (no resync, no polling within the test): the alias query makes the room; a
    // client asking again meanwhile (under load the first answer may come after 20 s) finds it.
    const found: Array<string> = []
    await eventually(
      "the room of the alias asked for",
      async () => {
        const room = await synapse.resolveAlias(alias("event", "after"))
        if (room !== undefined) found.push(room)
        return room !== undefined
      },
      { daemon, timeoutMs: 90_000 },
    )
    const later = found[0]
    expect(await synapse.memberships(later ?? "")).toMatchObject({ [bot]: "join", [mx(1)]: "invite" })
    expect((await daemon.stop()).code).toBe(0)

    // In sync from then on; the audit log holds every applied action (what a rollback would look at).
    expect((await runCli(["plan", "--detailed-exitcode"], env)).code).toBe(0)
    const audited = await sql(`SELECT count(*)::int AS n FROM "${schema}".audit_log WHERE result = 'applied'`)
    expect(Reflect.get(Object(audited[0]), "n")).toBeGreaterThanOrEqual(actions.length)
  })
})
