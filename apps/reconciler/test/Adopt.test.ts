/**
 * `reconciler adopt` against real Synapse: legacy rooms OpenMeet's older bot identity made
 * (the bot not in them, or in them without power) are listed with what Synapse's
 * make_room_admin would change, and with --confirm and a server admin's token adopted, so
 * that the next plan manages them.
 */
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import {
  legacyRoom,
  registerServerAdmin,
  sqlLayer,
  synapseClient,
  testServices,
  uniqueTenantId,
} from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { cliEnv, runCli } from "./cli.ts"

const services = testServices()
const synapse = synapseClient(services)
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
afterAll(() => db.dispose())
const s = services.serverName
const bot = services.botUserId

const json = (text: string): Record<string, unknown> => {
  const value: unknown = JSON.parse(text)
  if (!isRecord(value)) throw new Error(`not a JSON object: ${text}`)
  return value
}
const roomsOf = (doc: Record<string, unknown>): ReadonlyArray<Record<string, unknown>> => {
  const rooms = doc.rooms
  return Array.isArray(rooms) ? rooms.filter(isRecord) : []
}
const byKey = (doc: Record<string, unknown>, key: string) => roomsOf(doc).find((room) => room.key === key)

describe("reconciler adopt", () => {
  it("lists the legacy rooms where the bot lacks power, adopts them with --confirm, and the next plan manages them", async () => {
    const tenant = fixtureTenant(uniqueTenantId("adopt"), s)
    const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
    const alias = (slug: string) => `#event-${slug}-${tenant.id}:${s}`
    const env = cliEnv(services, { TENANTS_B64: tenantsB64([tenant]) })
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
        for (const [id, slug] of [
          [1, "held"],
          [2, "weak"],
          [3, "hosted"],
        ] as const) {
          yield* addEvent(tenant, { id, slug, visibility: "private" })
          yield* addAttendee(tenant, { eventId: id, userId: 1, status: "confirmed", role: "host" })
          yield* addAttendee(tenant, { eventId: id, userId: 2, status: "confirmed" })
        }
      }),
    )
    // OpenMeet's older bot identity made two rooms: ours is not in the first, and has no power in the second.
    const older = await synapse.register(`openmeet-bot-${tenant.id}`)
    const legacy = (slug: string, id: number, invite: ReadonlyArray<string>) =>
      legacyRoom(synapse, bot, {
        alias: alias(slug),
        name: `Event ${id}`,
        joinRule: "invite",
        creator: older,
        users: { [mx(1)]: 100 },
        invite,
      })
    const held = await legacy("held", 1, [mx(1), mx(2)])
    const weak = await legacy("weak", 2, [bot, mx(1), mx(2)])
    await synapse.joinAs(bot, weak)
    // Our own bot's legacy room with the host at 100: nothing adopt can (or must) change.
    await legacyRoom(synapse, bot, {
      alias: alias("hosted"),
      name: "Event 3",
      joinRule: "invite",
      users: { [mx(1)]: 100 },
      invite: [mx(1), mx(2)],
    })
    const key = (id: number) => `event:${tenant.id}:${id}`

    // plan and explain say what adopt would fix.
    const planned = await runCli(["plan", "--output", "json"], env)
    expect(planned.stderr).toBe("")
    const plan = json(planned.stdout)
    expect(byKey(plan, key(1))).toMatchObject({ status: "blocked", conditions: [{ type: "blocked", adopt: held }] })
    expect(byKey(plan, key(2))).toMatchObject({
      status: "blocked",
      conditions: [
        { type: "blocked", adopt: weak },
        { type: "blocked", adopt: weak },
      ],
    })
    expect(String(Reflect.get(Object(byKey(plan, key(2))?.conditions), 0)?.message)).toContain(
      `\`reconciler adopt\` would fix it (Synapse's make_room_admin: ${older} gives the bot 100)`,
    )
    expect(byKey(plan, key(3))).toMatchObject({ status: "in_sync", conditions: [{ type: "level_kept" }] })
    const explained = await runCli(["explain", key(1)], env)
    expect(explained.stdout).toContain("`reconciler adopt` can make the bot its admin")

    // Without a token: the listing, and nothing changes.
    const listed = await runCli(["adopt"], env)
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(`the bot is not in ${held}: give SYNAPSE_ADMIN_TOKEN`)
    expect(listed.stdout).toContain(`make_room_admin in ${weak}: ${older} gives the bot 100 (it has 0)`)
    expect(listed.stdout).toContain("adopt would act on 2 room(s); 1 blocked by power it cannot fix")
    const refused = await runCli(["adopt", "--confirm"], env)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("adopt --confirm needs SYNAPSE_ADMIN_TOKEN")
    expect(await synapse.joinedRooms()).not.toContain(held)

    // With a server admin's token: what make_room_admin would do where the bot cannot look.
    const admin = await registerServerAdmin(services, `admin-${tenant.id}`)
    const withToken = { ...env, SYNAPSE_ADMIN_TOKEN: admin.accessToken }
    const preview = json((await runCli(["adopt", "--output", "json"], withToken)).stdout)
    expect(byKey(preview, key(1))).toMatchObject({
      adopt: held,
      makeRoomAdmin: { grantor: older, levelNow: 0, levelAfter: 100, joins: true, remaining: [{ type: "level_kept" }] },
    })
    expect(byKey(preview, key(3))).toMatchObject({ adopt: null, makeRoomAdmin: null })

    const confirmed = await runCli(["adopt", "--confirm", "--output", "json"], withToken)
    expect(confirmed.stderr).toBe("")
    expect(confirmed.code).toBe(0)
    const done = json(confirmed.stdout)
    expect(roomsOf(done).map((room) => [room.key, room.result])).toEqual([
      [key(1), "adopted"],
      [key(2), "adopted"],
      [key(3), "skipped"],
    ])
    // The next plan manages both: nothing blocked, the host kept at 100.
    const next = Reflect.get(done, "nextPlan")
    expect(isRecord(next) ? roomsOf(next).map((room) => [room.key, room.status]) : []).toEqual([
      [key(1), "in_sync"],
      [key(2), "in_sync"],
    ])
    for (const room of [held, weak]) {
      expect(await synapse.memberships(room)).toMatchObject({ [bot]: "join" })
      expect((await synapse.powerLevels(room)).users).toMatchObject({ [bot]: 100, [mx(1)]: 100 })
    }
    expect((await runCli(["apply"], env)).code).toBe(0)
    expect((await runCli(["plan", "--detailed-exitcode"], env)).code).toBe(0)
    // The admin token is a secret: no output shows it.
    for (const output of [listed, refused, confirmed]) {
      expect(output.stdout + output.stderr).not.toContain(admin.accessToken)
    }
  })
})
