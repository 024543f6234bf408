import { createServer, type Server, Socket } from "node:net"

/** A TCP proxy in front of a service (Synapse, PostgreSQL), for tests of what happens when it goes away. */
export interface TcpProxy {
  readonly url: string
  readonly port: number
  /** Goes down right after forwarding the n-th request whose first line starts with `marker`. */
  readonly cutAt: (marker: string, n: number) => void
  /**
   * Forwards the first `n` requests whose first line starts with `marker`; every later one is
   * held, never forwarded (its connection stays open), as a server that stopped answering.
   */
  readonly stallAfter: (marker: string, n: number) => void
  /** Requests held by `stallAfter`, by first line. */
  readonly stalled: () => ReadonlyArray<string>
  /** Client connections closed while a request of theirs was held (the client gave up or aborted). */
  readonly abandoned: () => number
  readonly isDown: () => boolean
  /** Cuts every connection and refuses new ones. */
  readonly down: () => void
  readonly up: () => void
  readonly close: () => Promise<void>
}

/**
 * Starts a proxy to `target`: `down()` cuts every connection and refuses new ones, as a
 * server that stopped answering; `up()` lets traffic through again. Requests are recognised
 * by the first line of a chunk (HTTP/1.1 sends each request's head in one write).
 * `listenPort` (default: any free port) puts it where a client already sends, e.g. a
 * registration's `url`.
 */
export const tcpProxy = async (target: URL, startOpen = true, listenPort = 0): Promise<TcpProxy> => {
  const sockets = new Set<Socket>()
  let open = startOpen
  let cut: { readonly marker: string; remaining: number } | undefined
  let stall: { readonly marker: string; remaining: number } | undefined
  const stalled: Array<string> = []
  let abandoned = 0
  const cutByProxy = new WeakSet<Socket>()
  const down = () => {
    open = false
    for (const socket of sockets) {
      cutByProxy.add(socket)
      socket.destroy()
    }
    sockets.clear()
  }
  const server: Server = createServer((client) => {
    if (!open) return client.destroy()
    const upstream = new Socket()
    upstream.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    let holding = false
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1")
      if (cut !== undefined && text.startsWith(cut.marker)) {
        cut.remaining -= 1
        if (cut.remaining === 0) {
          cut = undefined
          setTimeout(down, 20)
        }
      }
      if (!holding && stall !== undefined && text.startsWith(stall.marker)) {
        if (stall.remaining > 0) stall.remaining -= 1
        else {
          holding = true
          stalled.push(text.slice(0, text.indexOf("\r\n")))
        }
      }
      // Nothing of a held request (nor anything after it on its connection) reaches the service.
      if (!holding) upstream.write(chunk)
    })
    upstream.pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("error", close).on("close", close)
    // The service closing the connection is no client giving up.
    const upstreamClosed = () => {
      cutByProxy.add(client)
      close()
    }
    upstream.on("error", upstreamClosed).on("close", upstreamClosed)
    // The client gave up on a request that never reached the service (it was aborted).
    client.once("close", () => {
      if (holding && !cutByProxy.has(client)) abandoned += 1
    })
  })
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("proxy has no port")
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    cutAt: (marker, n) => {
      cut = { marker, remaining: n }
    },
    stallAfter: (marker, n) => {
      stall = { marker, remaining: n }
    },
    stalled: () => [...stalled],
    abandoned: () => abandoned,
    isDown: () => !open,
    down,
    up: () => {
      open = true
    },
    close: () => {
      down()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
