export * from "./Logging.ts"
export * from "./Metrics.ts"
export * from "./Timing.ts"
export * from "./Tracing.ts"
