/**
 * Hostile and malformed requests to a running daemon's appservice port: each case has
 * its expected answer (a clear Matrix error, or 200 with what was unreadable counted in
 * reconciler_input_dropped_total) and the rooms it may queue. After all of them the daemon
 * still runs and a real change still reaches Matrix: nothing lost. (Bodies over 8 MiB,
 * slow bodies and the token in a trace are the regression tests of AppserviceLimits.)
 */
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { reliabilityCase, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Daemon } from "../daemon.ts"
import { daemonEnv, eventually, harness, ready, startDaemon } from "../daemon.ts"

const { services, synapse, db, s } = harness()
const tenant = fixtureTenant(uniqueTenantId("hap"), s)
const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
let daemon: Daemon
let room = ""

beforeAll(async () => {
  await db.runPromise(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      for (const id of [1, 2, 3]) yield* addUser(tenant, { id })
      yield* addEvent(tenant, { id: 1, slug: "target", userId: 1, visibility: "private" })
      yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
    }),
  )
  daemon = startDaemon(
    daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]), RECONCILER_SCHEMA: `rec_${tenant.id}` }),
  )
  await ready(daemon)
  await eventually(
    "the room",
    async () => (await synapse.resolveAlias(`#event-target-${tenant.id}:${s}`)) !== undefined,
    {
      daemon,
    },
  )
  room = (await synapse.resolveAlias(`#event-target-${tenant.id}:${s}`)) ?? ""
}, 120_000)

afterAll(async () => {
  if (daemon.process.exitCode === null) await daemon.stop("SIGKILL")
})

const base = () => new URL(services.appserviceUrl)

/** A body, or how to make it when the case runs (the managed room is known only then). */
type Body = string | Uint8Array | (() => string)

interface Sent {
  readonly status: number
  readonly errcode: string | undefined
}

/** One raw request to the appservice port. `token`: the Authorization header's value, or none. */
const send = async (
  path: string,
  options: { readonly method?: string; readonly auth?: string | null; readonly body?: Body } = {},
): Promise<Sent> => {
  const headers: Record<string, string> = { "content-type": "application/json" }
  const auth = options.auth === undefined ? `Bearer ${services.hsToken}` : options.auth
  if (auth !== null) headers.authorization = auth
  const response = await fetch(new URL(path, base()), {
    method: options.method ?? "PUT",
    headers,
    ...(options.body === undefined ? {} : { body: typeof options.body === "function" ? options.body() : options.body }),
  })
  const text = await response.text()
  let errcode: string | undefined
  try {
    const json: unknown = JSON.parse(text)
    const code: unknown = typeof json === "object" && json !== null ? Reflect.get(json, "errcode") : undefined
    errcode = typeof code === "string" ? code : undefined
  } catch {
    errcode = undefined
  }
  return { status: response.status, errcode }
}

let txn = 0
const txnPath = (id?: string) =>
  `/_matrix/app/v1/transactions/${encodeURIComponent(id ?? `hostile-${Date.now()}-${txn++}`)}`
/** A state event someone else made in the managed room: it queues the room's key. */
const humanEvent = () => ({
  type: "m.room.topic",
  room_id: room,
  sender: `@someone:${s}`,
  state_key: "",
  content: { topic: "hi" },
})
/** A transaction body, made when sent. */
const transaction =
  (events: () => ReadonlyArray<unknown>): (() => string) =>
  () =>
    JSON.stringify({ events: events() })

interface Case {
  readonly name: string
  readonly run: () => Promise<ReadonlyArray<Sent>>
  readonly status: number
  readonly errcode?: string
  /** Increase of reconciler_input_dropped_total by source. */
  readonly dropped?: { readonly appservice_request?: number; readonly transaction_event?: number }
  /** Increase of reconciler_workqueue_adds_total{source="change"}: how often the room was queued. */
  readonly queued?: number
}

const once = (path: string, options?: Parameters<typeof send>[1]) => async () => [await send(path, options)]
const wrongToken = `${services.hsToken.slice(0, -1)}${services.hsToken.endsWith("0") ? "1" : "0"}`

const cases: ReadonlyArray<Case> = [
  {
    name: "no token",
    run: once(txnPath(), { auth: null, body: transaction(() => []) }),
    status: 401,
    errcode: "M_UNAUTHORIZED",
    dropped: { appservice_request: 1 },
  },
  {
    name: "a wrong token",
    run: once(txnPath(), { auth: "Bearer nope", body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  {
    name: "the hs_token with its last character changed",
    run: once(txnPath(), { auth: `Bearer ${wrongToken}`, body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  {
    name: "a prefix of the hs_token",
    run: once(txnPath(), { auth: `Bearer ${services.hsToken.slice(0, 8)}`, body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  {
    name: "the as_token instead of the hs_token",
    run: once(txnPath(), { auth: `Bearer ${services.asToken}`, body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  // A header's trailing space is trimmed on the way: "Bearer" alone carries no token.
  {
    name: "an empty bearer token",
    run: once(txnPath(), { auth: "Bearer ", body: transaction(() => []) }),
    status: 401,
    errcode: "M_UNAUTHORIZED",
    dropped: { appservice_request: 1 },
  },
  {
    name: "Basic authentication",
    run: once(txnPath(), {
      auth: `Basic ${Buffer.from(`x:${services.hsToken}`).toString("base64")}`,
      body: transaction(() => []),
    }),
    status: 401,
    errcode: "M_UNAUTHORIZED",
    dropped: { appservice_request: 1 },
  },
  {
    name: "the token in the query (legacy)",
    run: once(`${txnPath()}?access_token=${services.hsToken}`, { auth: null, body: transaction(() => [humanEvent()]) }),
    status: 200,
    queued: 1,
  },
  {
    name: "a wrong token in the query",
    run: once(`${txnPath()}?access_token=nope`, { auth: null, body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  {
    name: "a wrong header beside the right query token",
    run: once(`${txnPath()}?access_token=${services.hsToken}`, { auth: "Bearer nope", body: transaction(() => []) }),
    status: 403,
    errcode: "M_FORBIDDEN",
    dropped: { appservice_request: 1 },
  },
  {
    name: "an alias query without a token",
    run: once(`/_matrix/app/v1/rooms/${encodeURIComponent(`#event-target-${tenant.id}:${s}`)}`, {
      method: "GET",
      auth: null,
    }),
    status: 401,
    errcode: "M_UNAUTHORIZED",
    dropped: { appservice_request: 1 },
  },
  { name: "malformed JSON", run: once(txnPath(), { body: '{"events": [' }), status: 400, errcode: "M_NOT_JSON" },
  { name: "an empty body", run: once(txnPath(), { body: "" }), status: 400, errcode: "M_BAD_JSON" },
  {
    name: "bytes that are not UTF-8",
    run: once(txnPath(), { body: new Uint8Array([0xff, 0xfe, 0x7b, 0xc3]) }),
    status: 400,
    errcode: "M_NOT_JSON",
  },
  { name: "a JSON array", run: once(txnPath(), { body: "[]" }), status: 400, errcode: "M_BAD_JSON" },
  { name: "a JSON string", run: once(txnPath(), { body: '"events"' }), status: 400, errcode: "M_BAD_JSON" },
  { name: "events as an object", run: once(txnPath(), { body: '{"events": {}}' }), status: 400, errcode: "M_BAD_JSON" },
  { name: "events null", run: once(txnPath(), { body: '{"events": null}' }), status: 400, errcode: "M_BAD_JSON" },
  { name: "no events field", run: once(txnPath(), { body: "{}" }), status: 400, errcode: "M_BAD_JSON" },
  {
    name: "JSON nested 100,000 levels deep",
    run: once(txnPath(), { body: `${"[".repeat(100_000)}${"]".repeat(100_000)}` }),
    status: 400,
  },
  {
    name: "a replayed transaction id",
    run: async () => {
      const id = `replay-${Date.now()}`
      return [
        await send(txnPath(id), { body: transaction(() => [humanEvent()]) }),
        await send(txnPath(id), { body: transaction(() => [humanEvent()]) }),
      ]
    },
    status: 200,
    queued: 1,
  },
  {
    name: "twenty concurrent requests with one transaction id",
    run: async () => {
      const id = `concurrent-${Date.now()}`
      return Promise.all(
        Array.from({ length: 20 }, () => send(txnPath(id), { body: transaction(() => [humanEvent()]) })),
      )
    },
    status: 200,
    queued: 1,
  },
  {
    name: "a state event for a room the reconciler does not manage",
    run: once(txnPath(), { body: transaction(() => [{ ...humanEvent(), room_id: `!unknown:${s}` }]) }),
    status: 200,
    queued: 0,
  },
  {
    name: "an event without room_id",
    run: once(txnPath(), { body: transaction(() => [{ type: "m.room.topic", state_key: "" }, humanEvent()]) }),
    status: 200,
    dropped: { transaction_event: 1 },
    queued: 1,
  },
  {
    name: "an event that is a string",
    run: once(txnPath(), { body: transaction(() => ["m.room.member"]) }),
    status: 200,
    dropped: { transaction_event: 1 },
    queued: 0,
  },
  {
    name: "an event whose type is a number",
    run: once(txnPath(), { body: transaction(() => [{ ...humanEvent(), type: 42 }]) }),
    status: 200,
    dropped: { transaction_event: 1 },
    queued: 0,
  },
  {
    name: "an event whose state_key is a number",
    run: once(txnPath(), { body: transaction(() => [{ ...humanEvent(), state_key: 0 }]) }),
    status: 200,
    dropped: { transaction_event: 1 },
    queued: 0,
  },
  {
    name: "a state event whose content is a string",
    run: once(txnPath(), { body: transaction(() => [{ ...humanEvent(), content: "x" }]) }),
    status: 200,
    queued: 1,
  },
  {
    name: "a power-levels event whose users is a list",
    run: once(txnPath(), {
      body: transaction(() => [{ ...humanEvent(), type: "m.room.power_levels", content: { users: [mx(2), 100] } }]),
    }),
    status: 200,
    queued: 1,
  },
  {
    name: "a member event with a 10 kB state_key",
    run: once(txnPath(), {
      body: transaction(() => [
        {
          ...humanEvent(),
          type: "m.room.member",
          state_key: `@${"x".repeat(10_000)}:${s}`,
          content: { membership: "join" },
        },
      ]),
    }),
    status: 200,
    queued: 1,
  },
  {
    name: "100 events, 99 of them unreadable",
    run: once(txnPath(), {
      body: transaction(() => [...Array.from({ length: 99 }, (_, i) => ({ type: i, room_id: room })), humanEvent()]),
    }),
    status: 200,
    dropped: { transaction_event: 99 },
    queued: 1,
  },
  {
    name: "a 10 kB transaction id",
    run: once(txnPath("t".repeat(10_000)), { body: transaction(() => []) }),
    status: 200,
  },
  {
    name: "a transaction id with an encoded slash",
    run: once("/_matrix/app/v1/transactions/a%2Fb", { body: transaction(() => []) }),
    status: 200,
  },
  {
    name: "a path that is not valid percent-encoding",
    run: once("/_matrix/app/v1/transactions/%E0%A4%A", { body: transaction(() => []) }),
    status: 400,
    errcode: "M_INVALID_PARAM",
  },
  {
    name: "an unknown path",
    run: once("/_matrix/app/v1/nothing-here", { method: "GET" }),
    status: 404,
    errcode: "M_UNRECOGNIZED",
  },
  { name: "GET on a transaction", run: once(txnPath(), { method: "GET" }), status: 404, errcode: "M_UNRECOGNIZED" },
  {
    name: "extra path segments",
    run: once(`${txnPath()}/extra`, { body: transaction(() => []) }),
    status: 404,
    errcode: "M_UNRECOGNIZED",
  },
  {
    name: "the legacy unprefixed transaction path",
    run: once(`/transactions/legacy-${Date.now()}`, { body: transaction(() => [humanEvent()]) }),
    status: 200,
    queued: 1,
  },
  { name: "a ping", run: once("/_matrix/app/v1/ping", { method: "POST", body: "{}" }), status: 200 },
  {
    name: "a user query",
    run: once(`/_matrix/app/v1/users/${encodeURIComponent(mx(9))}`, { method: "GET" }),
    status: 404,
    errcode: "M_NOT_FOUND",
  },
  {
    name: "an alias query outside the tenants' namespace",
    run: once(`/_matrix/app/v1/rooms/${encodeURIComponent(`#random:${s}`)}`, { method: "GET" }),
    status: 404,
    errcode: "M_NOT_FOUND",
  },
  {
    name: "an alias query for a slug no event has",
    run: once(`/_matrix/app/v1/rooms/${encodeURIComponent(`#event-no-such-slug-${tenant.id}:${s}`)}`, {
      method: "GET",
    }),
    status: 404,
    errcode: "M_NOT_FOUND",
  },
  {
    name: "an alias query of 10 kB",
    run: once(`/_matrix/app/v1/rooms/${encodeURIComponent(`#event-${"x".repeat(10_000)}-${tenant.id}:${s}`)}`, {
      method: "GET",
    }),
    status: 404,
    errcode: "M_NOT_FOUND",
  },
]

const droppedNow = async () => ({
  appservice_request: await daemon.metric("reconciler_input_dropped_total", { source: "appservice_request" }),
  transaction_event: await daemon.metric("reconciler_input_dropped_total", { source: "transaction_event" }),
})

describe("hostile appservice requests to a running daemon", () => {
  it.each(cases)("$name", async (c) => {
    await reliabilityCase(
      {
        class: "hostile-appservice",
        case: c.name,
        expected: `${c.status}${c.errcode === undefined ? "" : ` ${c.errcode}`}${c.dropped === undefined ? "" : ", counted as dropped"}`,
      },
      async (measure) => {
        const before = await droppedNow()
        const queuedBefore = await daemon.metric("reconciler_workqueue_adds_total", { source: "change" })
        const answers = await c.run()
        measure.faults = 1
        const after = await droppedNow()
        const queued = (await daemon.metric("reconciler_workqueue_adds_total", { source: "change" })) - queuedBefore
        const outcome = {
          statuses: [...new Set(answers.map((a) => a.status))],
          errcodes: c.errcode === undefined ? [] : [...new Set(answers.map((a) => a.errcode))],
          dropped: {
            appservice_request: after.appservice_request - before.appservice_request,
            transaction_event: after.transaction_event - before.transaction_event,
          },
          queued: c.queued === undefined ? 0 : queued,
          alive: daemon.process.exitCode === null,
        }
        const wanted = {
          statuses: [c.status],
          errcodes: c.errcode === undefined ? [] : [c.errcode],
          dropped: { appservice_request: 0, transaction_event: 0, ...c.dropped },
          queued: c.queued ?? 0,
          alive: true,
        }
        measure.survived = JSON.stringify(outcome) === JSON.stringify(wanted) ? 1 : 0
        expect(outcome, JSON.stringify(outcome)).toEqual(wanted)
      },
    )
  })

  it("after all of them: the daemon runs and a new RSVP still reaches Matrix", async () => {
    await reliabilityCase(
      { class: "hostile-appservice", case: "nothing lost after the barrage", expected: "the next change is applied" },
      async (measure) => {
        await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 3, status: "confirmed" }))
        // No trigger here: a transaction about the room makes the daemon look at it again.
        await send(txnPath(), { body: transaction(() => [humanEvent()]) })
        await eventually("u3's invite", async () => (await synapse.memberships(room))[mx(3)] === "invite", { daemon })
        const members = await synapse.memberships(room)
        measure.actionsLost = members[mx(2)] === "invite" && members[mx(3)] === "invite" ? 0 : 1
        expect(members).toMatchObject({ [mx(2)]: "invite", [mx(3)]: "invite" })
        expect(daemon.process.exitCode).toBeNull()
      },
    )
  })
})
