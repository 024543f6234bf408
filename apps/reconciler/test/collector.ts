import { createServer } from "node:http"
import { listenOnLoopback } from "@openmeet-reconciler/testing"

/** A local OTLP/HTTP collector that keeps every export the reconciler sends it. */
export const otlpCollector = async () => {
  const received: Array<{ readonly path: string; readonly body: Buffer }> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      received.push({ path: request.url ?? "", body: Buffer.concat(chunks) })
      response.writeHead(200, { "content-type": "application/x-protobuf" }).end()
    })
  })
  const url = await listenOnLoopback(server)
  return {
    /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
    url,
    /** The trace exports so far. */
    traces: () => received.filter((r) => r.path === "/v1/traces"),
    /** Every trace export so far as one text: protobuf keeps names and attribute values as they are. */
    tracesText: () =>
      Buffer.concat(received.filter((r) => r.path === "/v1/traces").map((r) => r.body)).toString("latin1"),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
