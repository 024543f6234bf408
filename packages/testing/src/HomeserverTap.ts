import { createServer, request } from "node:http"

/** One request the reconciler made through the tap, and what the homeserver answered. */
export interface TappedRequest {
  /** 1, 2, … in arrival order. */
  readonly seq: number
  readonly method: string
  /** The path as sent, percent-decoded, without the query. */
  readonly path: string
  readonly body: unknown
  /** When it arrived (ms since the epoch). */
  readonly at: number
  /** The homeserver's status; undefined while in flight, or when it never reached the homeserver. */
  status?: number
  /** The homeserver's answer (JSON), when it had one. */
  response?: unknown
  /** When the homeserver answered. */
  answeredAt?: number
  /** Whether the reconciler got the answer (false: held back, as a crash before it arrived). */
  delivered?: boolean
}

/** What to do with a request: pass it on, or hold it (never answered; the connection is dropped). */
export type TapVerdict = "pass" | "hold"

export interface TapHooks {
  /** Before the request reaches the homeserver. */
  readonly before?: (entry: TappedRequest) => TapVerdict | Promise<TapVerdict>
  /** Once the homeserver answered, before the answer reaches the reconciler. */
  readonly after?: (entry: TappedRequest) => TapVerdict | Promise<TapVerdict>
}

/**
 * An HTTP proxy in front of a real homeserver that records every request with its body and
 * the answer, and lets a test act at an exact step: `before` runs when a request arrives
 * (hold it: it never lands), `after` once the homeserver applied it (hold the answer: it
 * landed, but the reconciler never hears so). A test kills the reconciler inside a hook to
 * crash it at that step. Requests are whole JSON bodies (the client API), so the log names
 * each write precisely.
 */
export const homeserverTap = async (target: string, hooks: TapHooks = {}) => {
  const upstream = new URL(target)
  const log: Array<TappedRequest> = []
  let current: TapHooks = hooks
  const server = createServer((incoming, outgoing) => {
    const chunks: Array<Buffer> = []
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk))
    incoming.on("end", () => {
      void (async () => {
        const raw = Buffer.concat(chunks)
        const url = new URL(incoming.url ?? "/", "http://tap")
        const entry: TappedRequest = {
          seq: log.length + 1,
          method: incoming.method ?? "GET",
          path: decodeURIComponent(url.pathname),
          body: parseJson(raw.toString("utf8")),
          at: Date.now(),
        }
        log.push(entry)
        if ((await current.before?.(entry)) === "hold") return outgoing.destroy()
        const forwarded = request(
          {
            hostname: upstream.hostname,
            port: upstream.port,
            method: entry.method,
            path: incoming.url,
            headers: { ...incoming.headers, host: upstream.host },
          },
          (response) => {
            const answer: Array<Buffer> = []
            response.on("data", (chunk: Buffer) => answer.push(chunk))
            response.on("end", () => {
              void (async () => {
                const bytes = Buffer.concat(answer)
                entry.status = response.statusCode ?? 502
                entry.response = parseJson(bytes.toString("utf8"))
                entry.answeredAt = Date.now()
                if ((await current.after?.(entry)) === "hold") {
                  entry.delivered = false
                  return outgoing.destroy()
                }
                entry.delivered = true
                outgoing.writeHead(entry.status, response.headers)
                outgoing.end(bytes)
              })()
            })
          },
        )
        forwarded.on("error", () => {
          entry.delivered = false
          outgoing.destroy()
        })
        forwarded.end(raw)
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the tap has no port")
  return {
    url: `http://127.0.0.1:${address.port}`,
    /** Every request so far, in arrival order. */
    log: (): ReadonlyArray<TappedRequest> => log,
    /** Replaces the hooks (a new phase of a test). */
    setHooks: (next: TapHooks) => {
      current = next
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export type HomeserverTap = Awaited<ReturnType<typeof homeserverTap>>

const parseJson = (text: string): unknown => {
  if (text === "") return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
