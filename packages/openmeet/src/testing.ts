/**
 * Test, demo and benchmark support: OpenMeet's DDL, row fixtures and the seeder.
 * Not part of the production entry (`.`): these write to and drop OpenMeet's tables,
 * which the reconciler itself only ever reads.
 */
export * from "./Fixture.ts"
export * from "./OpenMeetSchema.ts"
export * from "./Seed.ts"
