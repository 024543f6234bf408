/**
 * Generated hostile input (fast-check, fixed seeds so every run checks the same inputs):
 * appservice requests, power levels, room state, tenant lists, policy and registration
 * YAML, room keys and durations. Each property is what the reconciler promises for any
 * input at all: a clear refusal or a counted drop, never an exception, a 500, a secret in
 * a message, or a kick or demotion of someone OpenMeet entitles.
 */
import { HttpApp } from "@effect/platform"
import { formatRoomKey, invalidLevels, levelOf, parseRoomKey, planRoom, Telemetry } from "@openmeet-reconciler/core"
import type { RoomEvent } from "@openmeet-reconciler/matrix"
import { appServiceApp, decodeRoomState, parseRegistration } from "@openmeet-reconciler/matrix"
import { parseTenantsB64 } from "@openmeet-reconciler/openmeet"
import { reliabilityCase } from "@openmeet-reconciler/testing"
import { Effect, Either, FastCheck as fc, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { parsePolicy } from "../../src/PolicyConfig.ts"
import { parseDuration } from "../../src/Settings.ts"
import { bot, context, desired as desiredRoom, stateEvent, u, wantedLevels } from "./hostileRoom.ts"

const hsToken = "generated-hs-token-0123456789abcdef"

/** Runs a property with a fixed seed and records it: each generated input is one injected fault. */
const property = async <T>(
  name: string,
  expected: string,
  runs: number,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void> | void,
) =>
  reliabilityCase(
    { class: "hostile-generated", case: name, expected: `${expected} (${runs} inputs)` },
    async (measure) => {
      measure.faults = runs
      await fc.assert(
        fc.asyncProperty(arbitrary, async (value) => check(value)),
        { numRuns: runs, seed: 20261130 },
      )
      measure.survived = runs
    },
  )

/** The appservice API in process, counting what it drops and what it hands over. */
const appservice = () => {
  let dropped = 0
  const received: Array<RoomEvent> = []
  const app = appServiceApp(
    { hsTokens: [Redacted.make(hsToken)] },
    {
      onEvents: (events) =>
        Effect.sync(() => {
          received.push(...events)
          return true
        }),
      onAliasQuery: () => Effect.succeed(false),
    },
  )
  const telemetry = {
    ...Telemetry.defaultValue(),
    dropped: () => {
      dropped++
    },
  }
  const handler = HttpApp.toWebHandler(app.pipe(Effect.provideService(Telemetry, telemetry)))
  return { handler, received, dropped: () => dropped }
}

let txn = 0
const put = (handler: (request: Request) => Promise<Response>, body: string | Uint8Array, path?: string) =>
  handler(
    new Request(`http://appservice${path ?? `/_matrix/app/v1/transactions/g${txn++}`}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${hsToken}`, "content-type": "application/json" },
      body,
    }),
  )

const eventLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom("m.room.member", "m.room.power_levels", "m.room.name"), fc.string(), fc.integer()),
    room_id: fc.oneof(fc.constant("!r:openmeet.test"), fc.string(), fc.constant(null)),
    sender: fc.oneof(fc.constant("@a:openmeet.test"), fc.jsonValue()),
    state_key: fc.oneof(fc.constant(""), fc.string(), fc.integer()),
    content: fc.jsonValue(),
  },
  { requiredKeys: [] },
)

const wanted = wantedLevels
const levelValue = fc.oneof(
  fc.integer({ min: -200, max: 200 }),
  fc.double(),
  fc.constantFrom("50", "0", "100", "fifty", " 7 ", "1_0", "", "50.5", "١٠"),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue(),
)
const powerLevels = fc.record(
  {
    users: fc.oneof(
      fc.dictionary(fc.constantFrom(bot, u(1), u(2), u(3), u(4), "@other:elsewhere"), levelValue),
      fc.jsonValue(),
    ),
    users_default: levelValue,
    kick: levelValue,
    invite: levelValue,
    state_default: levelValue,
    events_default: levelValue,
    events: fc.oneof(fc.dictionary(fc.constantFrom("m.room.power_levels", "m.room.name"), levelValue), fc.jsonValue()),
  },
  { requiredKeys: [] },
)

describe("generated hostile input", () => {
  it("appservice transactions of any JSON: 200 or 400, unreadable events counted, never a 500", async () => {
    const { handler, received, dropped } = appservice()
    await property(
      "appservice transactions of arbitrary JSON and arbitrary events",
      "200 or 400, every event handed over or counted as dropped",
      300,
      fc.oneof(fc.jsonValue(), fc.record({ events: fc.array(fc.oneof(eventLike, fc.jsonValue()), { maxLength: 20 }) })),
      async (body) => {
        const before = { received: received.length, dropped: dropped() }
        const response = await put(handler, JSON.stringify(body))
        expect([200, 400]).toContain(response.status)
        const events = typeof body === "object" && body !== null && "events" in body ? body.events : undefined
        if (response.status === 200 && Array.isArray(events)) {
          expect(received.length - before.received + dropped() - before.dropped).toBe(events.length)
        }
      },
    )
  })

  it("appservice bodies of arbitrary bytes: 200 or 400, never a 500", async () => {
    const { handler } = appservice()
    await property(
      "appservice bodies of arbitrary bytes",
      "200 or 400",
      200,
      fc.uint8Array({ maxLength: 2000 }),
      async (bytes) => {
        expect([200, 400]).toContain((await put(handler, bytes)).status)
      },
    )
  })

  it("appservice paths of arbitrary text: an answer, never a 500", async () => {
    const { handler } = appservice()
    await property(
      "appservice requests to arbitrary paths",
      "200, 400 or 404",
      300,
      fc.string({ maxLength: 200 }),
      async (path) => {
        const response = await put(
          handler,
          '{"events":[]}',
          `/_matrix/app/v1/${path.replaceAll("?", "%3F").replaceAll("#", "%23")}`,
        )
        expect([200, 400, 404]).toContain(response.status)
      },
    )
  })

  it("power levels of any shape: never an exception, never harm to an entitled user, blocked when unreadable", async () => {
    await property(
      "power levels of arbitrary shapes and values",
      "no kick or demotion of an entitled user; unreadable levels block the room",
      500,
      powerLevels,
      (levels) => {
        const body = [
          stateEvent("m.room.create", { room_version: "10" }),
          stateEvent("m.room.join_rules", { join_rule: "invite" }),
          stateEvent("m.room.member", { membership: "join" }, bot),
          ...[1, 2, 3, 4].map((n) => stateEvent("m.room.member", { membership: "join" }, u(n), u(n))),
          stateEvent("m.room.power_levels", levels),
        ]
        const actual = decodeRoomState("!r:openmeet.test", body)
        if (Either.isLeft(actual)) throw new Error(actual.left)
        const plan = planRoom(desiredRoom(), actual.right, context)
        if (plan === undefined) throw new Error("no plan")
        const botLevel = levelOf(actual.right, bot)
        const cap = botLevel === Number.POSITIVE_INFINITY ? 100 : botLevel - 1
        for (const action of plan.actions) {
          if (action.type === "kick") expect(Object.keys(wanted)).not.toContain(action.user)
          if ("changes" in action) {
            for (const [user, change] of Object.entries(action.changes)) {
              if (user in wanted) expect(change.to).toBe(Math.min(wanted[user] ?? 0, cap))
            }
          }
        }
        if (invalidLevels(actual.right.powerLevels).length > 0) {
          expect(plan.status).toBe("blocked")
          expect(plan.actions).toEqual([])
        }
      },
    )
  })

  it("room state of any shape: decoded or refused, never an exception", async () => {
    await property(
      "room state bodies of arbitrary events",
      "decoded, or refused with the reason",
      300,
      fc.oneof(fc.array(fc.oneof(eventLike, fc.jsonValue()), { maxLength: 30 }), fc.jsonValue()),
      (body) => {
        const decoded = decodeRoomState("!r:openmeet.test", body)
        if (Either.isLeft(decoded)) expect(decoded.left.length).toBeGreaterThan(0)
      },
    )
  })

  it("TENANTS_B64 of any text: a tenant list or a clear error, never an exception", async () => {
    const tenant = fc.record(
      {
        id: fc.oneof(fc.string(), fc.stringMatching(/^[a-z0-9_]{1,12}$/), fc.jsonValue()),
        name: fc.jsonValue(),
        matrixConfig: fc.oneof(
          fc.record(
            {
              serverName: fc.oneof(fc.domain(), fc.string()),
              appservice: fc.record({ token: fc.constant("tenant-secret-token") }),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    )
    await property(
      "TENANTS_B64 of arbitrary text and tenant lists",
      "tenants, or an error naming TENANTS_B64 without a token",
      500,
      fc.oneof(
        fc.string().map((text) => Buffer.from(text).toString("base64")),
        fc.string(),
        fc.array(tenant).map((list) => Buffer.from(JSON.stringify(list)).toString("base64")),
      ),
      (b64) => {
        const parsed = parseTenantsB64(b64)
        if (Either.isLeft(parsed)) {
          expect(parsed.left.message).toMatch(/^TENANTS_B64/)
          expect(parsed.left.message).not.toContain("tenant-secret-token")
        }
      },
    )
  })

  it("RECONCILER_POLICY of any YAML: policies or an error naming the place, never an exception", async () => {
    await property(
      "RECONCILER_POLICY of arbitrary YAML",
      "policies, or an error starting RECONCILER_POLICY",
      300,
      fc.oneof(
        fc.string(),
        fc.jsonValue().map((value) => stringify(value)),
        fc
          .record({
            defaults: fc.dictionary(
              fc.constantFrom("maxDestructivePerRoom", "protectedUsers", "eventLevels", "x"),
              fc.jsonValue(),
            ),
          })
          .map((value) => stringify(value)),
      ),
      (yaml) => {
        const parsed = parsePolicy(yaml, ["t1"])
        if (Either.isLeft(parsed)) expect(parsed.left).toMatch(/^RECONCILER_POLICY/)
      },
    )
  })

  it("registration YAML of any shape: a registration or an error without its tokens", async () => {
    const token = "registration-secret-token-abcdef"
    await property(
      "appservice registrations of arbitrary YAML",
      "a registration, or an error without the tokens",
      300,
      fc.oneof(
        fc.string(),
        fc
          .record(
            {
              id: fc.jsonValue(),
              url: fc.jsonValue(),
              as_token: fc.oneof(fc.constant(token), fc.jsonValue()),
              hs_token: fc.constant(token),
              sender_localpart: fc.jsonValue(),
            },
            { requiredKeys: [] },
          )
          .map((value) => stringify(value)),
      ),
      (yaml) => {
        const parsed = parseRegistration(yaml, "APPSERVICE_REGISTRATION test")
        if (Either.isLeft(parsed)) expect(parsed.left.message).not.toContain(token)
      },
    )
  })

  it("room keys of any text: parsed and printed back the same, or refused", async () => {
    await property(
      "room keys of arbitrary text",
      "a key that prints back the same, or a refusal",
      500,
      fc.oneof(
        fc.string(),
        fc.tuple(fc.constantFrom("event", "group", "room"), fc.string(), fc.string()).map((parts) => parts.join(":")),
      ),
      (text) => {
        const parsed = parseRoomKey(text)
        if (Either.isRight(parsed)) expect(formatRoomKey(parsed.right)).toBe(text)
      },
    )
  })

  it("durations of any text: a duration of at least 0, or none", async () => {
    await property("durations of arbitrary text", "a non-negative duration, or refused", 500, fc.string(), (text) => {
      const parsed = parseDuration(text)
      if (Option.isSome(parsed)) expect(Number.isNaN(Number(parsed.value.value))).toBe(false)
    })
  })
})
