export * from "./Reconciler.ts"
