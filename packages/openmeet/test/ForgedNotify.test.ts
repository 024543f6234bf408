import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Telemetry } from "@openmeet-reconciler/core"
import { addAttendee, addEvent, addUser, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Either, Logger, Queue, Redacted } from "effect"
import type { Change } from "../src/index.ts"
import { decodeChange, installTriggers, listenChanges } from "../src/index.ts"

const services = testServices()

/** The largest id a `serial` column holds; OpenMeet's ids are serials. */
const maxSerial = "2147483647"

layer(sqlLayer(services.databaseUrl), { excludeTestServices: true })("forged notifications", (it) => {
  it("ids beyond serial range, oversized payloads and overlong tenants are refused; the largest serial is not", () => {
    const payload = (id: string, extra = {}) => JSON.stringify({ t: "t1", tb: "events", id, ...extra })
    expect(decodeChange(payload(maxSerial))).toEqual(Either.right({ tenant: "t1", table: "events", id: maxSerial }))
    for (const forged of ["2147483648", "9999999999", "99999999999", "999999999999999999"]) {
      expect(Either.isLeft(decodeChange(payload(forged))), forged).toBe(true)
    }
    const padded = decodeChange(payload("1", { pad: "x".repeat(600) }))
    expect(Either.isLeft(padded) && padded.left).toContain("more than a trigger sends")
    const tenant = decodeChange(JSON.stringify({ t: "t".repeat(256), tb: "events", id: "1" }))
    expect(Either.isLeft(tenant) && tenant.left).toContain("t")
  })

  it.scoped(
    "a forged id beside a real change in one transaction: the real one arrives, the forged one is counted and logged",
    () =>
      Effect.gen(function* () {
        const tenant = fixtureTenant(uniqueTenantId("fnt"), "openmeet.test")
        yield* resetTenant(tenant, 40)
        for (const id of [1, 2]) yield* addUser(tenant, { id })
        yield* addEvent(tenant, { id: 1, slug: "real", userId: 1 })
        const channel = `test_${uniqueTenantId("fn").toLowerCase()}`
        yield* installTriggers([tenant], channel)

        const changes = yield* Queue.unbounded<ReadonlyArray<Change>>()
        const listening = yield* Queue.unbounded<void>()
        const dropped: Array<string> = []
        const warnings: Array<string> = []
        const telemetry = yield* Telemetry
        yield* Effect.forkScoped(
          listenChanges({
            databaseUrl: Redacted.make(services.databaseUrl),
            channel,
            onChanges: (batch) => Queue.offer(changes, batch).pipe(Effect.asVoid),
            onListening: () => Queue.offer(listening, undefined).pipe(Effect.asVoid),
            onLost: () => Effect.void,
          }).pipe(
            Effect.provideService(Telemetry, { ...telemetry, dropped: (input) => dropped.push(input) }),
            Effect.provide(
              Logger.replace(
                Logger.defaultLogger,
                Logger.make(({ message }) => warnings.push([message].flat().map(String).join(" "))),
              ),
            ),
          ),
        )
        yield* Queue.take(listening).pipe(Effect.timeout("10 seconds"))

        // One commit: the trigger's notification for the RSVP and two forged ones on the same channel.
        const sql = yield* SqlClient.SqlClient
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`SELECT pg_notify(${channel}, ${JSON.stringify({ t: tenant.id, tb: "events", id: "2147483648" })})`
            yield* addAttendee(tenant, { eventId: 1, userId: 2, status: "confirmed" })
            yield* sql`SELECT pg_notify(${channel}, ${JSON.stringify({ t: tenant.id, tb: "events", id: "1", pad: "x".repeat(600) })})`
          }),
        )
        const batch = yield* Queue.take(changes).pipe(Effect.timeout("10 seconds"))
        expect(batch).toEqual([{ tenant: tenant.id, table: "eventAttendees", id: "1" }])
        // The three usually come as one batch; a forged one read in a batch of its own is counted as well.
        for (let i = 0; i < 100 && dropped.length < 2; i++) yield* Effect.sleep("50 millis")
        expect(dropped).toEqual(["notify", "notify"])
        const ignored = warnings.filter((w) => w.startsWith("change feed: notification ignored"))
        expect(ignored).toHaveLength(2)
        // The log names the problem, never the forged values.
        expect(ignored.join("\n")).not.toContain("2147483648")
        expect(yield* Queue.size(changes)).toBe(0)
      }),
  )
})
