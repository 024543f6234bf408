export * from "./FaultyHomeserver.ts"
export * from "./Services.ts"
export * from "./SqlLayer.ts"
export * from "./SynapseClient.ts"
