import { createServer } from "node:http"
import { listenOnLoopback } from "@openmeet-reconciler/testing"
import { Effect, Exit, Fiber, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeMatrix } from "../src/index.ts"

/**
 * Our HTTP client, not Matrix behaviour: a stand-in homeserver that answers whoami and holds
 * every other request until the test answers it, noting whether the client hung up first.
 */
interface Held {
  readonly line: string
  /** The client closed the connection before any answer. */
  hungUp: boolean
  readonly answer: (body: unknown) => void
}
const held: Array<Held> = []
const server = createServer((request, response) => {
  if (request.url?.startsWith("/_matrix/client/v3/account/whoami") === true) {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ user_id: "@bot:example.org" }))
    return
  }
  let answered = false
  const entry: Held = {
    line: `${request.method} ${request.url}`,
    hungUp: false,
    answer: (body) => {
      answered = true
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify(body))
    },
  }
  response.on("close", () => {
    if (!answered) entry.hungUp = true
  })
  held.push(entry)
})
let url = ""
beforeAll(async () => {
  url = await listenOnLoopback(server)
})
afterAll(() => {
  server.closeAllConnections()
  return new Promise<void>((resolve) => server.close(() => resolve()))
})

/** Polls `check` every 20 ms until it holds; fails naming `what` after 10 s (the client's own timeout is 60 s). */
const until = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("interrupted Matrix requests", () => {
  it("an interrupted request is aborted: the server sees the connection closed before it answers", async () => {
    held.length = 0
    await Effect.runPromise(
      Effect.gen(function* () {
        const matrix = yield* makeMatrix({ homeserverUrl: url, asToken: Redacted.make("t") })
        const fiber = yield* Effect.fork(matrix.sendState("!r:example.org", "m.room.name", { name: "late" }))
        yield* until("the request to arrive", () => held.length === 1)
        expect(held[0]?.line).toBe("PUT /_matrix/client/v3/rooms/!r%3Aexample.org/state/m.room.name/")
        expect(held[0]?.hungUp).toBe(false)
        yield* Fiber.interrupt(fiber)
        yield* until("the client to hang up", () => held[0]?.hungUp === true)
      }),
    )
  })

  it("only the interrupted request is aborted: another one in flight at the same time still gets its answer", async () => {
    held.length = 0
    await Effect.runPromise(
      Effect.gen(function* () {
        const matrix = yield* makeMatrix({ homeserverUrl: url, asToken: Redacted.make("t") })
        const kept = yield* Effect.fork(matrix.kick("!kept:example.org", "@u:example.org", "reason"))
        yield* until("the first request", () => held.length === 1)
        const dropped = yield* Effect.fork(matrix.kick("!dropped:example.org", "@u:example.org", "reason"))
        yield* until("the second request", () => held.length === 2)
        yield* Fiber.interrupt(dropped)
        yield* until("the interrupted request's hang-up", () => held[1]?.hungUp === true)
        expect(held[0]?.hungUp).toBe(false)
        held[0]?.answer({})
        expect(yield* Fiber.await(kept)).toEqual(Exit.succeed(undefined))
      }),
    )
  })
})
