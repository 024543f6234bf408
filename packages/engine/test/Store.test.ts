import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import type { RoomPlan } from "@openmeet-reconciler/core"
import { roomKey } from "@openmeet-reconciler/core"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Layer } from "effect"
import { Store } from "../src/index.ts"

const services = testServices()
const schema = `reconciler_${uniqueTenantId("st")}`
const Live = Layer.provideMerge(Store.layer(schema), sqlLayer(services.databaseUrl))

/** More rooms than a statement may have parameters (65,535): one parameter per key would fail. */
const rooms = 70_000

layer(Live, { excludeTestServices: true })("the reconciler's tables", (it) => {
  it.effect(
    `a pass over ${rooms} rooms reads records, maps room ids and clears unseen keys in one statement each`,
    () =>
      Effect.gen(function* () {
        const store = yield* Store
        const sql = yield* SqlClient.SqlClient
        yield* store.migrate
        const tenant = uniqueTenantId("big")
        // Seeded in one statement: the rows are the setting, the Store's reads and writes the subject.
        yield* sql`INSERT INTO ${sql(`${schema}.rooms`)} (key, tenant, kind, entity_id, room_id, aliases, status)
          SELECT 'event:' || ${tenant} || ':' || n, ${tenant}, 'event', n::text, '!r' || n || ':openmeet.test',
                 ARRAY['#event-e' || n || '-' || ${tenant} || ':openmeet.test'], 'in_sync'
          FROM generate_series(1, ${rooms}) AS n`
        const ids = Array.from({ length: rooms }, (_, i) => String(i + 1))
        const keys = ids.map((id) => `event:${tenant}:${id}`)

        const records = yield* store.roomRecords([tenant], keys)
        expect(records.size).toBe(rooms)
        expect(records.get(`event:${tenant}:${rooms}`)).toEqual({
          key: `event:${tenant}:${rooms}`,
          roomId: `!r${rooms}:openmeet.test`,
          aliases: [`#event-e${rooms}-${tenant}:openmeet.test`],
        })

        const byRoom = yield* store.keysOfRooms(ids.map((id) => `!r${id}:openmeet.test`))
        expect(byRoom.size).toBe(rooms)
        expect(byRoom.get("!r12345:openmeet.test")).toBe(`event:${tenant}:12345`)

        // A pass that saw every room but the last one: only that one's status is cleared.
        const seen: RoomPlan = {
          key: roomKey(tenant, "event", "1"),
          alias: undefined,
          roomId: "!r1:openmeet.test",
          status: "drifted",
          actions: [],
          conditions: [],
          memberCount: 0,
          entitledCount: 0,
        }
        yield* store.recordStatus([seen], [tenant], keys.slice(0, -1))
        const statuses = yield* sql<{ status: string | null; n: number }>`
          SELECT status, count(*)::int AS n FROM ${sql(`${schema}.rooms`)} WHERE tenant = ${tenant}
          GROUP BY status ORDER BY status NULLS LAST`
        expect(statuses).toEqual([
          { status: "drifted", n: 1 },
          { status: "in_sync", n: rooms - 2 },
          { status: null, n: 1 },
        ])
        const cleared = yield* sql<{ key: string }>`
          SELECT key FROM ${sql(`${schema}.rooms`)} WHERE tenant = ${tenant} AND status IS NULL`
        expect(cleared).toEqual([{ key: `event:${tenant}:${rooms}` }])
      }),
    { timeout: 120_000 },
  )
})
