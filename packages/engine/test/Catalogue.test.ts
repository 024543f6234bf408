/**
 * The scenario catalogue: every row of policy.md against real PostgreSQL and Synapse.
 * Each scenario has a tenant of its own; see scenarios.ts for the cases.
 */
import { SqlClient } from "@effect/sql"
import { formatRoomKey, isRecord } from "@openmeet-reconciler/core"
import { Homeservers } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { addUser, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, synapseClient, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { PlanResult, TenantRuntime } from "../src/index.ts"
import { applyPlan, planPass, Store } from "../src/index.ts"
import type { World } from "./catalogue.ts"
import { shortKey, withPolicy } from "./catalogue.ts"
import { harmScenarios } from "./harm.ts"
import { legacyScenarios } from "./legacy.ts"
import { scenarios } from "./scenarios.ts"

const services = testServices()
const synapse = synapseClient(services)
const s = services.serverName
const runtime = ManagedRuntime.make(
  Layer.mergeAll(
    Layer.provideMerge(
      Layer.merge(DesiredState.layer, Store.layer(`catalogue_${uniqueTenantId("r")}`)),
      sqlLayer(services.databaseUrl),
    ),
    Homeservers.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make(services.asToken) }),
  ),
)
beforeAll(() => runtime.runPromise(Effect.flatMap(Store, (store) => store.migrate)))
afterAll(() => runtime.dispose())

const describeActions = (result: PlanResult) => {
  const out: Record<string, Array<string>> = {}
  for (const room of result.plan.rooms) {
    out[shortKey(room.key)] = room.actions.map(
      (a) => `${a.type}${"user" in a ? ` ${a.user}` : ""}${a.held === true ? " (held)" : ""}`,
    )
  }
  return out
}

/** What a plan says, whichever way its rooms were batched. */
const comparable = (result: PlanResult) => ({
  rooms: result.plan.rooms,
  failedTenants: result.failedTenants,
  pendingHandles: [...result.pendingHandles],
  completeTenants: result.completeTenants,
  unrecorded: result.unrecorded,
  details: [...result.details],
  emptyTenants: [...result.emptyTenants],
})

describe("scenario catalogue (policy.md, against PostgreSQL and Synapse)", () => {
  for (const scenario of [...scenarios, ...harmScenarios, ...legacyScenarios]) {
    it(`${scenario.section}: ${scenario.name}`, async () => {
      const tenant = fixtureTenant(uniqueTenantId("sc"), s)
      const tenantRuntime: TenantRuntime = {
        tenant,
        policy: withPolicy(scenario.policy),
        botUserId: services.botUserId,
      }
      const scope = { tenants: [tenantRuntime], rooms: [] }
      const plan = async (safety = scenario.safety) => {
        const options = { concurrency: 4, ...(safety ? { safety } : {}) }
        const result = await runtime.runPromise(planPass(scope, options))
        // A pass builds and plans rooms a batch at a time: a room a batch must plan the same.
        const oneByOne = await runtime.runPromise(planPass(scope, { ...options, batchSize: 1 }))
        expect(comparable(oneByOne)).toEqual(comparable(result))
        return result
      }
      const apply = (result: PlanResult) => runtime.runPromise(applyPlan(result, { concurrency: 4 }))
      const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
      const alias = (kind: "event" | "group", slug: string) => `#${kind}-${slug}-${tenant.id}:${s}`
      const world: World = {
        tenant,
        synapse,
        bot: services.botUserId,
        rows: (effect) => runtime.runPromise(Effect.asVoid(effect)),
        sql: (query) =>
          runtime.runPromise(
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql.unsafe(query.replaceAll("$s", `"${tenant.schema}"`).replaceAll("$t", tenant.id)),
            ).pipe(Effect.asVoid),
          ),
        pass: async () => {
          await apply(await plan())
        },
        mx,
        register: (n) => synapse.register(`${tenant.id}.u${n}`),
        alias,
        room: async (kind, slug) => {
          const roomId = await synapse.resolveAlias(alias(kind, slug))
          if (roomId === undefined) throw new Error(`no room has ${alias(kind, slug)}`)
          return roomId
        },
        levels: async (roomId, patch) => {
          const current = await synapse.powerLevels(roomId)
          const users = {
            ...(isRecord(current.users) ? current.users : {}),
            ...(isRecord(patch.users) ? patch.users : {}),
          }
          await synapse.setPowerLevels(roomId, { ...current, ...patch, users })
        },
      }

      await world.rows(
        Effect.gen(function* () {
          yield* resetTenant(tenant)
          for (const id of [1, 2, 3, 4, 5, 6, 7, 8, 9]) yield* addUser(tenant, { id })
        }),
      )
      await scenario.setup(world)
      if (scenario.converge !== false) {
        const first = await plan()
        await apply(first)
        // The converged starting point really is converged.
        expect(describeActions(await plan())).toEqual(
          Object.fromEntries(first.plan.rooms.map((r) => [shortKey(r.key), []])),
        )
      }
      await scenario.change?.(world)

      const result = await plan()
      const actual = describeActions(result)
      const expected = scenario.actions(world)
      for (const [key, actions] of Object.entries(expected)) expect({ [key]: actual[key] }).toEqual({ [key]: actions })
      const unexpected = Object.entries(actual).filter(([key, actions]) => !(key in expected) && actions.length > 0)
      expect(unexpected).toEqual([])
      for (const [key, status] of Object.entries(scenario.statuses?.(world) ?? {})) {
        expect({ [key]: result.plan.rooms.find((r) => shortKey(r.key) === key)?.status }).toEqual({ [key]: status })
      }
      for (const [key, types] of Object.entries(scenario.conditions?.(world) ?? {})) {
        const found = result.plan.rooms.find((r) => shortKey(r.key) === key)?.conditions.map((c) => c.type)
        expect({ [key]: found }).toEqual({ [key]: types })
      }

      const applied = await apply(result)
      expect(applied.actions.filter((a) => a.outcome.result !== "applied")).toEqual([])
      // `status` lists every blocked or failing room with its reason, from the recorded pass.
      const report = await runtime.runPromise(Effect.flatMap(Store, (store) => store.status))
      const needing = result.plan.rooms.filter((r) => r.status === "blocked" || r.status === "error")
      for (const room of needing) {
        const listed = report.attention.find((a) => a.key === formatRoomKey(room.key))
        expect({
          key: formatRoomKey(room.key),
          status: listed?.status,
          conditions: listed?.conditions.length ?? 0,
        }).toEqual({
          key: formatRoomKey(room.key),
          status: room.status,
          conditions: room.conditions.length,
        })
      }
      await scenario.after?.(world)
      if (scenario.settles !== false) {
        const again = describeActions(await plan())
        expect(Object.values(again).flat()).toEqual([])
      }
    })
  }
})
