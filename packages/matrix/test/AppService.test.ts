import { HttpApp } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import type { RoomEvent } from "../src/index.ts"
import { appServiceApp } from "../src/index.ts"

const hsToken = "hs-secret-token"
/** The hs_token of a second homeserver (a tenant's own). */
const otherToken = "other-hs-token"

/** The appservice API as a fetch handler, with handlers that record what reached them. */
const setup = (options: { readonly accept?: boolean; readonly handleMs?: number } = {}) => {
  const received: Array<ReadonlyArray<RoomEvent>> = []
  const queried: Array<string> = []
  const origins: Array<string> = []
  const app = appServiceApp(
    { hsTokens: [Redacted.make(hsToken), Redacted.make(otherToken)], rememberTransactions: 2 },
    {
      onEvents: (events, origin) =>
        Effect.sync(() => {
          received.push(events)
          origins.push(Redacted.value(origin))
          return options.accept ?? true
        }).pipe(Effect.delay(options.handleMs ?? 0)),
      onAliasQuery: (alias, origin) =>
        Effect.sync(() => {
          queried.push(alias)
          origins.push(Redacted.value(origin))
          return alias.startsWith("#event-known")
        }),
    },
  )
  const handler = HttpApp.toWebHandler(app)
  const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const response = await handler(
      new Request(`http://appservice${path}`, {
        method,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    )
    return { status: response.status, body: await response.json() }
  }
  return { received, queried, origins, call }
}

const member = { type: "m.room.member", room_id: "!r:s", sender: "@a:s", state_key: "@b:s", content: {} }

describe("appservice API", () => {
  it("refuses a request without hs_token (401) or with a wrong one (403), and handles nothing", async () => {
    const { call, received, queried } = setup()
    expect(await call("PUT", "/_matrix/app/v1/transactions/1", undefined, { events: [member] })).toEqual({
      status: 401,
      body: { errcode: "M_UNAUTHORIZED", error: "no hs_token in the request" },
    })
    expect((await call("PUT", "/_matrix/app/v1/transactions/1", "wrong", { events: [member] })).status).toBe(403)
    expect((await call("GET", "/_matrix/app/v1/rooms/%23event-known:s", "wrong")).status).toBe(403)
    expect((await call("GET", "/_matrix/app/v1/rooms/%23event-known:s?access_token=wrong", undefined)).status).toBe(403)
    expect(received).toEqual([])
    expect(queried).toEqual([])
  })

  it("hands a transaction's events over once, however often the homeserver sends it", async () => {
    const { call, received } = setup()
    const body = { events: [member, { type: "m.room.message", room_id: "!r:s", content: { body: "hi" } }] }
    expect(await call("PUT", "/_matrix/app/v1/transactions/7", hsToken, body)).toEqual({ status: 200, body: {} })
    expect(await call("PUT", "/_matrix/app/v1/transactions/7", hsToken, body)).toEqual({ status: 200, body: {} })
    // The legacy path and the access_token parameter are the same API.
    expect((await call("PUT", `/transactions/8?access_token=${hsToken}`, undefined, { events: [] })).status).toBe(200)
    expect(received).toEqual([body.events, []])
  })

  it("hands a transaction over once when the homeserver sends it again while it is handled", async () => {
    const { call, received } = setup({ handleMs: 50 })
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call("PUT", "/_matrix/app/v1/transactions/9", hsToken, { events: [member] })),
    )
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200))
    expect(received).toEqual([[member]])
  })

  it("a copy waiting on a refused transaction is handled itself, not acknowledged for it", async () => {
    const { call, received } = setup({ accept: false, handleMs: 50 })
    const answers = await Promise.all(
      [1, 2].map(() => call("PUT", "/_matrix/app/v1/transactions/10", hsToken, { events: [member] })),
    )
    expect(answers.map((a) => a.status)).toEqual([503, 503])
    expect(received).toEqual([[member], [member]])
  })

  it("takes each homeserver's hs_token and tells the handlers which one called; transaction ids are per homeserver", async () => {
    const { call, received, origins } = setup()
    expect((await call("PUT", "/_matrix/app/v1/transactions/1", hsToken, { events: [member] })).status).toBe(200)
    // The other homeserver's first transaction has the same id: it is new all the same.
    expect((await call("PUT", "/_matrix/app/v1/transactions/1", otherToken, { events: [] })).status).toBe(200)
    expect((await call("PUT", "/_matrix/app/v1/transactions/1", otherToken, { events: [] })).status).toBe(200)
    expect((await call("GET", "/_matrix/app/v1/rooms/%23event-known-t%3Ao", otherToken)).status).toBe(200)
    expect(received).toEqual([[member], []])
    expect(origins).toEqual([hsToken, otherToken, otherToken])
  })

  it("skips an event it cannot read, rejects a body that is not a transaction, and answers 503 when not accepted", async () => {
    const { call, received } = setup()
    const bad = { events: [{ type: 42 }, member] }
    expect((await call("PUT", "/_matrix/app/v1/transactions/1", hsToken, bad)).status).toBe(200)
    expect(received).toEqual([[member]])
    expect((await call("PUT", "/_matrix/app/v1/transactions/2", hsToken, "not json")).body).toMatchObject({
      errcode: "M_NOT_JSON",
    })
    expect((await call("PUT", "/_matrix/app/v1/transactions/3", hsToken, { event: [] })).status).toBe(400)

    const standby = setup({ accept: false })
    expect((await standby.call("PUT", "/_matrix/app/v1/transactions/1", hsToken, { events: [member] })).status).toBe(
      503,
    )
    // Not remembered: the homeserver's retry is handled.
    const again = await standby.call("PUT", "/_matrix/app/v1/transactions/1", hsToken, { events: [member] })
    expect(again.status).toBe(503)
    expect(standby.received).toHaveLength(2)
  })

  it("answers alias queries from the handler: 200 for a room, 404 otherwise; users are never made", async () => {
    const { call, queried } = setup()
    expect(await call("GET", "/_matrix/app/v1/rooms/%23event-known-t%3As", hsToken)).toEqual({ status: 200, body: {} })
    expect((await call("GET", "/_matrix/app/v1/rooms/%23event-other-t%3As", hsToken)).status).toBe(404)
    expect(queried).toEqual(["#event-known-t:s", "#event-other-t:s"])
    expect((await call("GET", "/_matrix/app/v1/users/%40u%3As", hsToken)).status).toBe(404)
    expect(await call("POST", "/_matrix/app/v1/ping", hsToken, {})).toEqual({ status: 200, body: {} })
    expect((await call("GET", "/_matrix/app/v1/thirdparty/protocol/x", hsToken)).body).toMatchObject({
      errcode: "M_UNRECOGNIZED",
    })
  })
})
