import { describe, expect, it } from "@effect/vitest"
import { defaultPolicy } from "@openmeet-reconciler/core"
import { Homeservers, makeStateCache } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { addEvent, fixtureTenant, resetTenant } from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, testServices, uniqueTenantId } from "@openmeet-reconciler/testing"
import { Effect, Fiber, Layer, ManagedRuntime, Redacted, TestClock, TestServices } from "effect"
import { afterAll } from "vitest"
import type { TenantRuntime } from "../src/index.ts"
import { AliasQueries, ControllerConfig, WorkQueue } from "../src/index.ts"

const services = testServices()
const s = services.serverName
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
afterAll(() => db.dispose())

/** A tenant with one published event (slug `asked`): its alias is one the queries may wait for. */
const seeded = async (): Promise<TenantRuntime> => {
  const tenant = fixtureTenant(uniqueTenantId("aq"), s)
  await db.runPromise(Effect.zipRight(resetTenant(tenant), addEvent(tenant, { id: 1, slug: "asked" })))
  return { tenant, policy: defaultPolicy, botUserId: services.botUserId }
}

/** Alias queries over OpenMeet's real tables and a work queue no worker takes from: nobody answers. */
const unanswered = (runtime: TenantRuntime) =>
  AliasQueries.layer.pipe(
    Layer.provideMerge(WorkQueue.layer({ base: "1 second", max: "10 seconds" })),
    Layer.provide(DesiredState.layer.pipe(Layer.provide(sqlLayer(services.databaseUrl)))),
    // Asked only for a query that names the homeserver it came from (none here).
    Layer.provide(
      Homeservers.layer({ homeserverUrl: services.homeserverUrl, asToken: Redacted.make(services.asToken) }),
    ),
    Layer.provide(
      Layer.succeed(ControllerConfig, {
        tenants: [runtime],
        concurrency: 1,
        workers: 1,
        batchSize: 1,
        resyncInterval: "1 hour",
        dryRun: false,
        backoff: { base: "1 second", max: "10 seconds" },
        cache: makeStateCache({ maxAge: "1 hour" }),
        shutdownGrace: "1 second",
        appserviceId: "openmeet-bot",
        aliasQueryTimeout: "20 seconds",
      }),
    ),
  )

/** Waits (on the real clock: the queries read the database) until `n` queries wait. */
const waitingReaches = (n: number) =>
  Effect.gen(function* () {
    const queries = yield* AliasQueries
    for (let i = 0; i < 300; i++) {
      if ((yield* queries.waiting) === n) return
      yield* TestServices.provideLive(Effect.sleep("20 millis"))
    }
    return yield* Effect.die(new Error(`${n} queries never waited (now ${yield* queries.waiting})`))
  })

describe("alias queries", () => {
  it.scoped("a query that times out leaves no waiter behind; its key was queued once", () =>
    Effect.gen(function* () {
      const runtime = yield* Effect.promise(seeded)
      const alias = `#event-asked-${runtime.tenant.id}:${s}`
      yield* Effect.gen(function* () {
        const queries = yield* AliasQueries
        const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.fork(queries.query(alias)))
        yield* waitingReaches(5)
        expect(yield* (yield* WorkQueue).depth).toBe(1)
        yield* TestClock.adjust("20 seconds")
        expect(yield* Fiber.joinAll(fibers)).toEqual([false, false, false, false, false])
        expect(yield* queries.waiting).toBe(0)
      }).pipe(Effect.provide(unanswered(runtime)))
    }),
  )

  it.scoped("an interrupted query leaves no waiter behind", () =>
    Effect.gen(function* () {
      const runtime = yield* Effect.promise(seeded)
      yield* Effect.gen(function* () {
        const queries = yield* AliasQueries
        const fiber = yield* Effect.fork(queries.query(`#event-asked-${runtime.tenant.id}:${s}`))
        yield* waitingReaches(1)
        yield* Fiber.interrupt(fiber)
        expect(yield* queries.waiting).toBe(0)
      }).pipe(Effect.provide(unanswered(runtime)))
    }),
  )

  it.scoped("a settled key answers every query waiting for it, which then go", () =>
    Effect.gen(function* () {
      const runtime = yield* Effect.promise(seeded)
      yield* Effect.gen(function* () {
        const queries = yield* AliasQueries
        const alias = `#event-asked-${runtime.tenant.id}:${s}`
        const fibers = yield* Effect.forEach([1, 2], () => Effect.fork(queries.query(alias)))
        yield* waitingReaches(2)
        yield* queries.settle(`event:${runtime.tenant.id}:1`, true)
        expect(yield* Fiber.joinAll(fibers)).toEqual([true, true])
        expect(yield* queries.waiting).toBe(0)
        // An alias of no entity waits for nothing.
        expect(yield* queries.query(`#event-nothing-${runtime.tenant.id}:${s}`)).toBe(false)
        expect(yield* queries.waiting).toBe(0)
      }).pipe(Effect.provide(unanswered(runtime)))
    }),
  )
})
