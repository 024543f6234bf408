/**
 * The unit's ExecStartPost: waits until the daemon's /readyz answers 200, so that systemd
 * counts the service as started only when it is ready (the daemon does not speak
 * sd_notify). systemd bounds the wait with TimeoutStartSec and ends this process if the
 * daemon exits. Reads HTTP_PORT and LISTEN_ADDRESS as the daemon does.
 */
const port = process.env.HTTP_PORT ?? "9090"
const listen = process.env.LISTEN_ADDRESS ?? "0.0.0.0"
const host = listen === "0.0.0.0" || listen === "::" || listen === "" ? "127.0.0.1" : listen
const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/readyz`

const ready = (): Promise<boolean> =>
  fetch(url, { signal: AbortSignal.timeout(5_000) }).then(
    (response) => response.status === 200,
    () => false,
  )

while (!(await ready())) await new Promise((resolve) => setTimeout(resolve, 500))
