export * from "./Reconciler.ts"
export * from "./Store.ts"
