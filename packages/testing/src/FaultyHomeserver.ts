import { createServer, request } from "node:http"

/** A homeserver in front of the real one that answers chosen requests with an error instead. */
export interface FaultyHomeserver {
  readonly url: string
  /** Requests answered with an error so far (method and path). */
  readonly failed: () => ReadonlyArray<string>
  readonly close: () => Promise<void>
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
