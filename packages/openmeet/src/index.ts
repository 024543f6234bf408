export * from "./DesiredState.ts"
export * from "./OpenMeetSchema.ts"
export * from "./Seed.ts"
export * from "./TenantConfig.ts"
