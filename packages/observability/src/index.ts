export * from "./Logging.ts"
