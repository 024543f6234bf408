import { request } from "node:http"
import { addAttendee, tenantsB64 } from "@openmeet-reconciler/openmeet/testing"
import { describe, expect, it } from "vitest"
import { daemonEnv, daemonStarter, eventually, harness, ready } from "./daemon.ts"

const { services, synapse, db, s, eventTenant } = harness()
const start = daemonStarter()
const appservice = new URL(services.appserviceUrl)

/**
 * A well-formed transaction of about `bytes` bytes: without a limit it would be read whole
 * and answered 200 (its events name no room the reconciler knows).
 */
const transactionOf = (bytes: number): Buffer => {
  const event = JSON.stringify({
    type: "m.room.message",
    room_id: "!big:openmeet.test",
    content: { body: "x".repeat(1000) },
  })
  const count = Math.ceil(bytes / (event.length + 1))
  return Buffer.from(`{"events":[${Array.from({ length: count }, () => event).join(",")}]}`)
}

/**
 * PUTs a transaction to the daemon's appservice port as the homeserver would, with its length
 * declared or chunked. The answer, or the error when the daemon closed the connection first.
 */
const putTransaction = (txnId: string, body: Buffer, framing: "content-length" | "chunked") =>
  new Promise<{ readonly status: number; readonly body: string } | { readonly error: string }>((resolve) => {
    const call = request(
      {
        host: appservice.hostname,
        port: appservice.port,
        method: "PUT",
        path: `/_matrix/app/v1/transactions/${txnId}`,
        headers: {
          authorization: `Bearer ${services.hsToken}`,
          "content-type": "application/json",
          ...(framing === "chunked" ? { "transfer-encoding": "chunked" } : { "content-length": body.length }),
        },
      },
      (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        )
      },
    )
    call.on("error", (error) => resolve({ error: error.message }))
    if (framing === "content-length") call.end(body)
    else {
      // Chunk after chunk, as a stream with no declared end would come.
      for (let at = 0; at < body.length; at += 64 * 1024) call.write(body.subarray(at, at + 64 * 1024))
      call.end()
    }
  })

describe("reconciler run: the appservice port's limits", () => {
  it("refuses a 10 MB body and a chunked one over 8 MiB with 413; transactions before and after still work, nothing is lost", async () => {
    const tenant = await eventTenant("dlim", "limits")
    const alias = `#event-limits-${tenant.id}:${s}`
    const owner = `@${tenant.id}.u1:${s}`
    const attendee = `@${tenant.id}.u2:${s}`
    await db.runPromise(addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" }))
    const daemon = start(daemonEnv(services, { TENANTS_B64: tenantsB64([tenant]) }))
    await ready(daemon)
    await eventually("the attendee's invite", async () => {
      const room = await synapse.resolveAlias(alias)
      return room !== undefined && (await synapse.memberships(room))[attendee] === "invite"
    })
    const room = await synapse.resolveAlias(alias)
    if (room === undefined) throw new Error("no room")

    const small = await putTransaction(`small-${tenant.id}`, transactionOf(10_000), "content-length")
    expect(small).toEqual({ status: 200, body: "{}" })

    const declared = await putTransaction(`declared-${tenant.id}`, transactionOf(10_000_000), "content-length")
    expect(declared).toMatchObject({ status: 413 })
    expect("body" in declared && JSON.parse(declared.body)).toMatchObject({ errcode: "M_TOO_LARGE" })
    expect(await daemon.metric("reconciler_input_dropped_total", { source: "appservice_request" })).toBe(1)

    // A chunked body declares no length: it is read up to the limit, then refused the same way.
    const chunked = await putTransaction(`chunked-${tenant.id}`, transactionOf(9 * 1024 * 1024), "chunked")
    expect(chunked).toMatchObject({ status: 413 })
    expect("body" in chunked && JSON.parse(chunked.body)).toMatchObject({ errcode: "M_TOO_LARGE" })
    expect(await daemon.metric("reconciler_input_dropped_total", { source: "appservice_request" })).toBe(2)

    expect((await daemon.get("/healthz")).status).toBe(200)
    expect(daemon.process.exitCode).toBeNull()

    // Drift in Matrix after all that: the owner (level 99) renames the room. Synapse tells the
    // daemon in a transaction (resync and polling are an hour away), and the name comes back.
    const name = async () => (await synapse.state(room)).find((event) => event.type === "m.room.name")?.content.name
    const named = await name()
    expect(typeof named).toBe("string")
    await synapse.register(`${tenant.id}.u1`)
    await synapse.joinAs(owner, room)
    await synapse.call(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/m.room.name/`,
      { name: "Renamed" },
      owner,
    )
    expect(await name()).toBe("Renamed")
    await eventually("the name to come back", async () => (await name()) === named, { daemon })
  })
})
