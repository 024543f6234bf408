/**
 * How requests to a homeserver travel through matrix-bot-sdk: what it throws mapped to our
 * tagged errors, the status a metric is labelled with, which failures are retried and how,
 * and its request function wrapped so an interrupted request is aborted.
 */
import { AsyncLocalStorage } from "node:async_hooks"
import { isRecord } from "@openmeet-reconciler/core"
import { Duration, Schedule } from "effect"
import { getRequestFn, MatrixError, setRequestFn } from "matrix-bot-sdk"
import type { MatrixRequestError } from "./MatrixError.ts"
import { Forbidden, HomeserverUnavailable, MatrixRejected, NotFound, RateLimited } from "./MatrixError.ts"

/** Maps what matrix-bot-sdk throws to our tagged errors. */
export const toMatrixError = (endpoint: string, error: unknown): MatrixRequestError => {
  if (error instanceof MatrixError) {
    const { statusCode: status, errcode } = error
    const message = error.error ?? ""
    if (status === 429 || errcode === "M_LIMIT_EXCEEDED") {
      return new RateLimited({ endpoint, retryAfterMs: error.retryAfterMs ?? 1000 })
    }
    if (status === 403) return new Forbidden({ endpoint, errcode, message })
    if (status === 404) return new NotFound({ endpoint, errcode, message })
    if (status >= 500) return new HomeserverUnavailable({ endpoint, status, message: `${errcode} ${message}` })
    return new MatrixRejected({ endpoint, status, errcode, message })
  }
  // matrix-bot-sdk throws the raw response for a non-2xx answer without a Matrix error body.
  if (isRecord(error) && typeof error.statusCode === "number") {
    const status = error.statusCode
    const message = `HTTP ${status}`
    if (status === 429) return new RateLimited({ endpoint, retryAfterMs: 1000 })
    if (status >= 500) return new HomeserverUnavailable({ endpoint, status, message })
    return new MatrixRejected({ endpoint, status, errcode: "", message })
  }
  return new HomeserverUnavailable({
    endpoint,
    status: undefined,
    message: error instanceof Error ? error.message : String(error),
  })
}

/** The HTTP status an error came with, as a metric label (`error`: no answer at all). */
export const statusOf = (error: MatrixRequestError): string => {
  switch (error._tag) {
    case "RateLimited":
      return "429"
    case "Forbidden":
      return "403"
    case "NotFound":
      return "404"
    case "HomeserverUnavailable":
      return error.status === undefined ? "error" : String(error.status)
    case "MatrixRejected":
      return String(error.status)
    case "UnexpectedResponse":
      return "200"
  }
}

/** The abort signal of the request being made (an interrupted request is aborted, not left to land). */
export const abortSignals = new AsyncLocalStorage<AbortSignal>()

const isAbortable = (value: unknown): value is { readonly abort: () => void } =>
  isRecord(value) && typeof value.abort === "function"

let requestFnInstalled = false
/**
 * matrix-bot-sdk's request function is wrapped once, for two things it lacks. A request
 * whose effect is interrupted (the leader lost its lock, a shutdown) is aborted, so no
 * write lands after the reconciler stopped applying. And matrix-bot-sdk only reads
 * `retry_after_ms` from a 429's body; newer homeservers may send only the `Retry-After`
 * header (seconds): its value reaches the error as `retry_after_ms`.
 */
export const installRequestFn = (): void => {
  if (requestFnInstalled) return
  requestFnInstalled = true
  const original = getRequestFn()
  setRequestFn((params: unknown, callback: (error: unknown, response: unknown, body: unknown) => void) => {
    const signal = abortSignals.getStore()
    const pending: unknown = original(params, (error: unknown, response: unknown, body: unknown) => {
      if (isRecord(response) && response.statusCode === 429 && isRecord(response.headers)) {
        const header = response.headers["retry-after"]
        const seconds = typeof header === "string" ? Number.parseFloat(header) : Number.NaN
        if (Number.isFinite(seconds) && seconds >= 0) {
          const parsed: unknown = typeof response.body === "string" ? safeJson(response.body) : response.body
          if (isRecord(parsed) && typeof parsed.retry_after_ms !== "number") {
            Object.assign(response, { body: { ...parsed, retry_after_ms: Math.round(seconds * 1000) } })
          }
        }
      }
      callback(error, response, body)
    })
    if (signal !== undefined && isAbortable(pending)) {
      if (signal.aborted) pending.abort()
      else signal.addEventListener("abort", () => pending.abort(), { once: true })
    }
    return pending
  })
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isRetryable = (error: MatrixRequestError): boolean =>
  error._tag === "RateLimited" || error._tag === "HomeserverUnavailable"

/** 429: the server's own delay; 5xx and network errors: exponential backoff with jitter. */
export const retryPolicy = (maxAttempts: number) =>
  Schedule.identity<MatrixRequestError>().pipe(
    Schedule.addDelay((error) => (error._tag === "RateLimited" ? Duration.millis(error.retryAfterMs) : Duration.zero)),
    Schedule.intersect(Schedule.jittered(Schedule.exponential("200 millis", 2))),
    Schedule.whileInput(isRetryable),
    Schedule.intersect(Schedule.recurs(maxAttempts - 1)),
  )
