import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import { Effect, Layer } from "effect"

/** Whether the standard OTLP variables ask for traces to be exported. */
export const otlpConfigured = (env: NodeJS.ProcessEnv = process.env): boolean =>
  [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].some(
    (value) => value !== undefined && value !== "",
  ) && env.OTEL_SDK_DISABLED !== "true"

/**
 * Exports the reconciler's spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: the OpenTelemetry Node SDK, configured by the
 * standard OTEL_* variables (protocol, headers, sampler, resource attributes), becomes the
 * global tracer provider and Effect's spans go to it. Without them, spans stay in-process:
 * trace ids still reach the logs and the audit log. No auto-instrumentation: the spans are
 * the reconciler's own (cycle, room, queries, Matrix requests, transactions). The SDK is loaded
 * only then: its exporters and metrics SDK hold about 10 MiB that a daemon without OTLP never uses.
 */
export const tracingLayer = (serviceVersion: string): Layer.Layer<never> =>
  otlpConfigured()
    ? Layer.unwrapScoped(
        Effect.gen(function* () {
          const serviceName = process.env.OTEL_SERVICE_NAME ?? "openmeet-matrix-reconciler"
          const { NodeSDK } = yield* Effect.promise(() => import("@opentelemetry/sdk-node"))
          const sdk = new NodeSDK({ serviceName, instrumentations: [] })
          sdk.start()
          yield* Effect.addFinalizer(() => Effect.promise(() => sdk.shutdown().catch(() => undefined)))
          return Tracer.layerGlobal.pipe(Layer.provide(Resource.layer({ serviceName, serviceVersion })))
        }),
      )
    : Layer.empty
