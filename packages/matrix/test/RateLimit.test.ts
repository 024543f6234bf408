import { createServer } from "node:http"
import { Telemetry } from "@openmeet-reconciler/core"
import { listenOnLoopback } from "@openmeet-reconciler/testing"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeMatrix } from "../src/index.ts"

/**
 * The HTTP side of rate limiting, which a real Synapse with `rate_limited: false` never
 * shows: a server that answers 429 with only a `Retry-After` header (newer homeservers
 * may drop `retry_after_ms`), then 200.
 */
let hits: Array<number> = []
let limited = 0
const server = createServer((request, response) => {
  hits.push(Date.now())
  if (limited > 0) {
    limited -= 1
    response.writeHead(429, { "content-type": "application/json", "retry-after": "2" })
    response.end(JSON.stringify({ errcode: "M_LIMIT_EXCEEDED", error: "Too Many Requests" }))
    return
  }
  if (request.url?.startsWith("/_matrix/client/v3/account/whoami") === true) {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ user_id: "@bot:example.org" }))
    return
  }
  response.writeHead(500, { "content-type": "application/json" })
  response.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "boom" }))
})
let url = ""
beforeAll(async () => {
  url = await listenOnLoopback(server)
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe("rate limits and server errors", () => {
  // Without the header the wait would be the 1 s default: 2 s proves the header was read.
  it("waits as long as Retry-After says on a 429, then succeeds; every attempt is observed", async () => {
    hits = []
    limited = 1
    const seen: Array<string> = []
    const matrix = await Effect.runPromise(
      Effect.flatMap(Telemetry, (telemetry) =>
        makeMatrix({ homeserverUrl: url, asToken: Redacted.make("t") }).pipe(
          Effect.provideService(Telemetry, {
            ...telemetry,
            matrixRequest: (endpoint, code) => seen.push(`${endpoint} ${code}`),
          }),
        ),
      ),
    )
    expect(matrix.botUserId).toBe("@bot:example.org")
    expect(hits).toHaveLength(2)
    expect((hits[1] ?? 0) - (hits[0] ?? 0)).toBeGreaterThanOrEqual(1950)
    expect(seen).toEqual(["GET /account/whoami 429", "GET /account/whoami 200"])
  })

  it("gives up on 5xx after its attempts, as HomeserverUnavailable", async () => {
    hits = []
    limited = 0
    const matrix = await Effect.runPromise(makeMatrix({ homeserverUrl: url, asToken: Redacted.make("t") }))
    hits = []
    const error = await Effect.runPromise(Effect.flip(matrix.readRoom("!r:example.org")))
    expect(error._tag).toBe("HomeserverUnavailable")
    expect(hits).toHaveLength(5)
  })
})
