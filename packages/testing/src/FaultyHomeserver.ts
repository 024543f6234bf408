import { createServer, request } from "node:http"

/** A homeserver in front of the real one that answers chosen requests with an error instead. */
export interface FaultyHomeserver {
  readonly url: string
  /** Requests answered with an error so far (method and path). */
  readonly failed: () => ReadonlyArray<string>
  /** Every request passed on, with when it was sent and answered (ms; end undefined while open). */
  readonly forwarded: () => ReadonlyArray<ForwardedRequest>
  readonly close: () => Promise<void>
}

export interface ForwardedRequest {
  readonly method: string
  /** Decoded. */
  readonly path: string
  readonly start: number
  end: number | undefined
}

/** The most of these requests that were open at one time. */
export const peakInFlight = (requests: ReadonlyArray<ForwardedRequest>): number => {
  const edges = requests.flatMap((r) => [
    [r.start, 1],
    [r.end ?? Number.POSITIVE_INFINITY, -1],
  ])
  edges.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0))
  let open = 0
  let peak = 0
  for (const [, step] of edges) {
    open += step ?? 0
    peak = Math.max(peak, open)
  }
  return peak
}

/**
 * Forwards every request to `target` (a real Synapse) except those `fail` picks, which get
 * a 502 as from a homeserver restarting; `fail` sees each request's method and path and
 * decides (it may count, to fail only the first).
 */
export const faultyHomeserver = async (
  target: string,
  fail: (method: string, path: string) => boolean,
): Promise<FaultyHomeserver> => {
  const upstream = new URL(target)
  const failed: Array<string> = []
  const passed: Array<ForwardedRequest> = []
  const server = createServer((incoming, outgoing) => {
    const method = incoming.method ?? "GET"
    const path = incoming.url ?? "/"
    if (fail(method, decodeURIComponent(path))) {
      failed.push(`${method} ${path}`)
      incoming.resume()
      outgoing.writeHead(502, { "content-type": "application/json" })
      outgoing.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "injected: the homeserver is restarting" }))
      return
    }
    const record: ForwardedRequest = {
      method,
      path: decodeURIComponent(path),
      start: performance.now(),
      end: undefined,
    }
    passed.push(record)
    outgoing.on("close", () => {
      record.end = performance.now()
    })
    const forwarded = request(
      { hostname: upstream.hostname, port: upstream.port, method, path, headers: incoming.headers },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers)
        response.pipe(outgoing)
      },
    )
    forwarded.on("error", () => {
      outgoing.writeHead(502)
      outgoing.end()
    })
    incoming.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the proxy has no port")
  return {
    url: `http://127.0.0.1:${address.port}`,
    failed: () => failed,
    forwarded: () => passed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
