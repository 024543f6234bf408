export * from "./OpenMeetFixture.ts"
export * from "./Services.ts"
export * from "./SynapseClient.ts"
