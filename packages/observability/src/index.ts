export * from "./Logging.ts"
export * from "./Metrics.ts"
export * from "./Tracing.ts"
