import type { Server } from "node:net"

/** Starts `server` on a free port of 127.0.0.1 (a stand-in, a collector); resolves to its base URL. */
export const listenOnLoopback = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the server has no port")
  return `http://127.0.0.1:${address.port}`
}
