import { createServer, type Server, Socket } from "node:net"

/**
 * A TCP proxy in front of a service (Synapse, PostgreSQL): `down()` cuts every connection
 * and refuses new ones, as a server that stopped answering; `up()` lets traffic through
 * again. `cutAt`
 * goes down right after forwarding the n-th request whose first line has `marker`, so
 * the homeserver may act on it while its answer is lost.
 */
export const tcpProxy = async (target: URL, startOpen = true) => {
  const sockets = new Set<Socket>()
  let open = startOpen
  let cut: { readonly marker: string; remaining: number } | undefined
  const down = () => {
    open = false
    for (const socket of sockets) socket.destroy()
    sockets.clear()
  }
  const server: Server = createServer((client) => {
    if (!open) return client.destroy()
    const upstream = new Socket()
    upstream.connect(Number(target.port), target.hostname)
    sockets.add(client).add(upstream)
    client.on("data", (chunk: Buffer) => {
      if (cut !== undefined && chunk.toString("latin1").startsWith(cut.marker)) {
        cut.remaining -= 1
        if (cut.remaining === 0) {
          cut = undefined
          setTimeout(down, 20)
        }
      }
    })
    client.pipe(upstream).pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("error", close).on("close", close)
    upstream.on("error", close).on("close", close)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("proxy has no port")
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    cutAt: (marker: string, n: number) => {
      cut = { marker, remaining: n }
    },
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
