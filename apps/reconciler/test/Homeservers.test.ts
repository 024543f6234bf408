/**
 * `reconciler run` with tenants on two real homeservers: the main one (MATRIX_HOMESERVER_URL,
 * APPSERVICE_REGISTRATION) and a tenant's own (`matrixConfig.homeserverUrl` and
 * `matrixConfig.appservice`), each behind a TCP proxy a test can cut.
 */
import { isRecord } from "@openmeet-reconciler/core"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import type { TcpProxy } from "@openmeet-reconciler/testing"
import { secondHomeserver, synapseClient, tcpProxy, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Daemon } from "./daemon.ts"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s } = harness()
const other = secondHomeserver()
const otherSynapse = synapseClient(other)
const o = other.serverName
const start = daemonStarter()

type Proxy = TcpProxy
let mainProxy: Proxy
let otherProxy: Proxy
/** The second homeserver sends transactions to its registration's url: they reach the daemon's port from there. */
let transactions: Proxy

beforeAll(async () => {
  mainProxy = await tcpProxy(new URL(services.homeserverUrl))
  otherProxy = await tcpProxy(new URL(other.homeserverUrl))
  transactions = await tcpProxy(new URL(services.appserviceUrl), true, Number(new URL(other.appserviceUrl).port))
})
afterAll(async () => {
  for (const proxy of [mainProxy, otherProxy, transactions]) await proxy.close()
})

/** Tenant `a` on the main homeserver, tenant `b` on its own, as OpenMeet's tenant list names them. */
const twoTenants = async (prefix: string) => {
  const a = fixtureTenant(uniqueTenantId(`${prefix}a`), s)
  const b: Tenant = {
    ...fixtureTenant(uniqueTenantId(`${prefix}b`), o),
    homeserverUrl: otherProxy.url,
    appserviceId: "openmeet-bot",
    asToken: Redacted.make(other.asToken),
    hsToken: Redacted.make(other.hsToken),
  }
  for (const tenant of [a, b]) {
    await db.runPromise(
      Effect.gen(function* () {
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2, 3, 4, 5]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "two", userId: 1, visibility: "private" })
        yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
      }),
    )
  }
  const env = daemonEnv(services, {
    TENANTS_B64: tenantsB64([a, b]),
    MATRIX_HOMESERVER_URL: mainProxy.url,
    POLL_INTERVAL: "1s",
    RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n`,
  })
  const mx = (tenant: Tenant, n: number) => `@${tenant.id}.u${n}:${tenant.serverName}`
  return { a, b, env, mx }
}

/** Two tenants and a daemon serving them, once it made both rooms. */
const started = async (prefix: string) => {
  const tenants = await twoTenants(prefix)
  const daemon = start(tenants.env)
  await ready(daemon)
  const roomA = await roomOf(synapse, `#event-two-${tenants.a.id}:${s}`, daemon)
  const roomB = await roomOf(otherSynapse, `#event-two-${tenants.b.id}:${o}`, daemon)
  return { ...tenants, daemon, roomA, roomB }
}

const roomOf = async (client: typeof synapse, alias: string, daemon: Daemon): Promise<string> => {
  const found: Array<string> = []
  await eventually(
    `the room of ${alias}`,
    async () => {
      const room = await client.resolveAlias(alias)
      if (room === undefined) return false
      // Synapse points the alias at the room before it writes the room's first events: the
      // room is the bot's once its state reads (until then `eventually` asks again).
      await client.state(room)
      found.push(room)
      return true
    },
    { daemon },
  )
  return found[0] ?? ""
}

/** A request to the daemon's appservice API as a homeserver would make it. */
const appservice = async (method: string, path: string, token: string, body?: unknown) => {
  const response = await fetch(new URL(path, services.appserviceUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return response.status
}

describe("reconciler run: tenants on their own homeservers", () => {
  it("takes each homeserver's transactions and alias queries with its own hs_token and writes as that tenant's bot", async () => {
    const { a, b, mx, daemon, roomA, roomB } = await started("hsx")
    // Each room was made by its own homeserver's bot: the tenant's appservice token wrote it.
    expect((await otherSynapse.state(roomB)).find((e) => e.type === "m.room.create")?.sender).toBe(other.botUserId)
    expect((await synapse.state(roomA)).find((e) => e.type === "m.room.create")?.sender).toBe(services.botUserId)
    await eventually("both invites", async () => {
      const [ma, mb] = [await synapse.memberships(roomA), await otherSynapse.memberships(roomB)]
      return ma[mx(a, 2)] === "invite" && mb[mx(b, 2)] === "invite"
    })

    // Drift on the tenant's own homeserver: only its transaction tells the daemon (no resync, no row change).
    const admin = await otherSynapse.register(`admin-${b.id}`)
    await otherSynapse.inviteAs(other.botUserId, roomB, admin)
    await otherSynapse.joinAs(admin, roomB)
    const levels = await otherSynapse.powerLevels(roomB)
    const users = isRecord(levels.users) ? levels.users : {}
    await otherSynapse.setPowerLevels(roomB, { ...levels, users: { ...users, [admin]: 100 } })
    const withAdmin = await otherSynapse.powerLevels(roomB)
    await otherSynapse.setPowerLevels(
      roomB,
      { ...withAdmin, users: { ...(isRecord(withAdmin.users) ? withAdmin.users : {}), [mx(b, 2)]: 50 } },
      admin,
    )
    await eventually(
      "the level on the other homeserver to be put back",
      async () => {
        const now = (await otherSynapse.powerLevels(roomB)).users
        return isRecord(now) && now[mx(b, 2)] === undefined && now[admin] === 100
      },
      { daemon },
    )

    // An alias query from the tenant's own homeserver creates the room of an event added after the resync.
    await db.runPromise(addEvent(b, { id: 2, slug: "later", userId: 1 }))
    const later = await otherSynapse.resolveAlias(`#event-later-${b.id}:${o}`)
    expect(later).toBeDefined()
    expect(await otherSynapse.memberships(later ?? "")).toEqual({ [other.botUserId]: "join", [mx(b, 1)]: "invite" })

    // Each homeserver is answered for its own tenants only; a token of neither is refused.
    const aliasB = `/_matrix/app/v1/rooms/${encodeURIComponent(`#event-two-${b.id}:${o}`)}`
    expect(await appservice("GET", aliasB, other.hsToken)).toBe(200)
    expect(await appservice("GET", aliasB, services.hsToken)).toBe(404)
    const aliasA = `/_matrix/app/v1/rooms/${encodeURIComponent(`#event-two-${a.id}:${s}`)}`
    expect(await appservice("GET", aliasA, services.hsToken)).toBe(200)
    expect(await appservice("GET", aliasA, other.hsToken)).toBe(404)
    expect(await appservice("GET", aliasA, "not-a-token")).toBe(403)
    expect(await appservice("PUT", "/_matrix/app/v1/transactions/x1", "not-a-token", { events: [] })).toBe(403)
    expect((await daemon.stop()).code).toBe(0)
  })

  it("one homeserver down fails only its own tenants, the main one included, at start too", async () => {
    const { a, b, env, mx, daemon, roomA, roomB } = await started("hsd")
    const invited = async (client: typeof synapse, room: string, user: string) =>
      (await client.memberships(room))[user] === "invite"
    const attend = (tenant: Tenant, userId: number) =>
      db.runPromise(addAttendee(tenant, { eventId: 1, userId, status: "confirmed" }))

    // The tenant's own homeserver goes away: the main one's tenant is still served.
    otherProxy.down()
    await attend(a, 3)
    await attend(b, 3)
    await eventually("u3 invited on the main homeserver", () => invited(synapse, roomA, mx(a, 3)), { daemon })
    const readyz = JSON.parse((await daemon.get("/readyz")).body)
    expect(readyz).toMatchObject({ ready: true, checks: { database: "ok" } })
    expect(String(readyz.checks.homeserver)).toContain(otherProxy.url)
    expect(await invited(otherSynapse, roomB, mx(b, 3))).toBe(false)
    otherProxy.up()
    await eventually(
      "u3 invited on the tenant's homeserver once it is back",
      () => invited(otherSynapse, roomB, mx(b, 3)),
      {
        daemon,
        timeoutMs: 90_000,
      },
    )

    // The main homeserver goes away: the tenant on its own homeserver is still served.
    mainProxy.down()
    await attend(a, 4)
    await attend(b, 4)
    await eventually("u4 invited on the tenant's homeserver", () => invited(otherSynapse, roomB, mx(b, 4)), { daemon })
    expect(await invited(synapse, roomA, mx(a, 4))).toBe(false)
    expect((await daemon.stop()).code).toBe(0)

    // A daemon that starts while the main homeserver is down serves the other tenant all the same.
    const late = start(env)
    await ready(late)
    await attend(b, 5)
    await eventually(
      "u5 invited by a daemon that never reached the main homeserver",
      () => invited(otherSynapse, roomB, mx(b, 5)),
      { daemon: late },
    )
    expect(await invited(synapse, roomA, mx(a, 4))).toBe(false)
    // Back: the main tenant's next change reconciles its room whole (u4's invite too).
    mainProxy.up()
    await attend(a, 5)
    await eventually(
      "u4 and u5 invited on the main homeserver once it is back",
      async () => (await invited(synapse, roomA, mx(a, 4))) && (await invited(synapse, roomA, mx(a, 5))),
      { daemon: late },
    )
  })
})
