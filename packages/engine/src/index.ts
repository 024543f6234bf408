export * from "./Reconciler.ts"
export * from "./Store.ts"
export * from "./WorkQueue.ts"
