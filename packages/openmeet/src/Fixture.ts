/**
 * Row-by-row fixtures of OpenMeet's tables for tests (Seed.ts builds whole tenants).
 * Never point these at a real OpenMeet database: resetTenant drops the tenant's tables.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Redacted } from "effect"
import { dropTenantDdl, registryDdl, tenantDdl, tenantSeedDml, userStatuses } from "./OpenMeetSchema.ts"
import type { Tenant } from "./TenantConfig.ts"
import { encodeTenantsB64, tenantSchema } from "./TenantConfig.ts"

/** A tenant config for tests. */
export const fixtureTenant = (id: string, serverName: string): Tenant => ({
  id,
  name: id,
  schema: tenantSchema(id),
  serverName,
})

/** OpenMeet's TENANTS_B64 for these tenants, with their own homeserver and appservice when they have them. */
export const tenantsB64 = (tenants: ReadonlyArray<Tenant>): string =>
  encodeTenantsB64(
    tenants.map((t) => ({
      id: t.id,
      name: t.name,
      matrixConfig: {
        serverName: t.serverName,
        ...(t.homeserverUrl === undefined ? {} : { homeserverUrl: t.homeserverUrl }),
        ...(t.asToken === undefined
          ? {}
          : {
              appservice: {
                ...(t.appserviceId === undefined ? {} : { id: t.appserviceId }),
                token: Redacted.value(t.asToken),
                ...(t.hsToken === undefined ? {} : { hsToken: Redacted.value(t.hsToken) }),
              },
            }),
      },
    })),
  )

const table = (sql: SqlClient.SqlClient, tenant: Tenant, name: string) => sql(`${tenant.schema}.${name}`)

/** A ulid-shaped value (26 characters, unique per tenant) for a row id. */
export const fixtureUlid = (id: number): string => `01${String(id).padStart(24, "0")}`

/** OpenMeet's event roles in the order its seeds create them (ids 1–5 on a fresh tenant). */
export const eventRoleNames = ["host", "moderator", "participant", "speaker", "guest"] as const
/** OpenMeet's group roles in the order its seeds create them (ids 1–5 on a fresh tenant). */
export const groupRoleNames = ["owner", "admin", "guest", "member", "moderator"] as const

/**
 * Drops and re-creates a tenant's tables with OpenMeet's fixed rows; role ids start after
 * `roleBase` (they differ per tenant in OpenMeet, so the reconciler must join on names).
 */
export const resetTenant = (tenant: Tenant, roleBase = 10) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const s of [
      ...registryDdl,
      ...dropTenantDdl(tenant.schema, tenant.id),
      ...tenantDdl(tenant.schema),
      ...tenantSeedDml(tenant.schema),
    ]) {
      yield* sql.unsafe(s)
    }
    yield* sql`INSERT INTO ${table(sql, tenant, "eventRoles")} ${sql.insert(eventRoleNames.map((name, i) => ({ id: roleBase + i + 1, name })))}`
    yield* sql`INSERT INTO ${table(sql, tenant, "groupRoles")} ${sql.insert(groupRoleNames.map((name, i) => ({ id: roleBase + i + 1, name })))}`
  })

/** A user (active unless `statusId` says otherwise, NULL included) with a handle unless `handle` is null. */
export const addUser = (tenant: Tenant, user: { id: number; handle?: string | null; statusId?: number | null }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "users")} ${sql.insert({
      id: user.id,
      ulid: fixtureUlid(user.id),
      slug: `user-${user.id}`,
      statusId: user.statusId === undefined ? userStatuses.active : user.statusId,
    })}`
    if (user.handle !== null) {
      yield* sql`INSERT INTO public."matrixHandleRegistry" ${sql.insert({
        handle: user.handle ?? `${tenant.id}.u${user.id}`,
        tenantId: tenant.id,
        userId: user.id,
      })}`
    }
  })

export interface EventRow {
  readonly id: number
  readonly slug: string
  readonly name?: string
  /** Default `published`; NULL allowed, as in OpenMeet. */
  readonly status?: string | null
  /** Default `public`; NULL and the legacy `authenticated` allowed, as in OpenMeet. */
  readonly visibility?: string | null
  readonly userId?: number | null
  readonly matrixRoomId?: string | null
}

export const addEvent = (tenant: Tenant, event: EventRow) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "events")} ${sql.insert({
      id: event.id,
      slug: event.slug,
      ulid: fixtureUlid(event.id),
      name: event.name ?? `Event ${event.id}`,
      status: event.status === undefined ? "published" : event.status,
      visibility: event.visibility === undefined ? "public" : event.visibility,
      startDate: new Date("2026-12-01T18:00:00Z"),
      userId: event.userId ?? null,
      matrixRoomId: event.matrixRoomId ?? null,
    })}`
  })

/**
 * An attendee row. `status` may be NULL; the role is looked up by name (default
 * participant), or `roleId` is written as given, whether a role has it or not.
 */
export const addAttendee = (
  tenant: Tenant,
  attendee: { eventId: number; userId: number; status: string | null; role?: string; roleId?: number },
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const roleId =
      attendee.roleId === undefined
        ? sql`(SELECT id FROM ${table(sql, tenant, "eventRoles")} WHERE name = ${attendee.role ?? "participant"})`
        : sql`${attendee.roleId}`
    yield* sql`INSERT INTO ${table(sql, tenant, "eventAttendees")} ("eventId", "userId", status, "roleId")
      VALUES (${attendee.eventId}, ${attendee.userId}, ${attendee.status}, ${roleId})`
  })

export const setAttendee = (
  tenant: Tenant,
  attendee: { eventId: number; userId: number; status?: string | null; role?: string },
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    if (attendee.status !== undefined) {
      yield* sql`UPDATE ${table(sql, tenant, "eventAttendees")} SET status = ${attendee.status}, "updatedAt" = now()
        WHERE "eventId" = ${attendee.eventId} AND "userId" = ${attendee.userId}`
    }
    if (attendee.role !== undefined) {
      yield* sql`UPDATE ${table(sql, tenant, "eventAttendees")}
        SET "roleId" = (SELECT id FROM ${table(sql, tenant, "eventRoles")} WHERE name = ${attendee.role}), "updatedAt" = now()
        WHERE "eventId" = ${attendee.eventId} AND "userId" = ${attendee.userId}`
    }
  })

export interface GroupRow {
  readonly id: number
  readonly slug: string
  readonly name?: string
  readonly status?: string | null
  readonly visibility?: string | null
  readonly matrixRoomId?: string | null
}

export const addGroup = (tenant: Tenant, group: GroupRow) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "groups")} ${sql.insert({
      id: group.id,
      slug: group.slug,
      ulid: fixtureUlid(group.id),
      name: group.name ?? `Group ${group.id}`,
      status: group.status === undefined ? "published" : group.status,
      visibility: group.visibility === undefined ? "public" : group.visibility,
      matrixRoomId: group.matrixRoomId ?? null,
    })}`
  })

/**
 * A group member row. Every column may be NULL in OpenMeet (a `role` of null writes a NULL
 * `"groupRoleId"`), and nothing stops a second row for the same user.
 */
export const addGroupMember = (
  tenant: Tenant,
  member: { groupId: number | null; userId: number | null; role: string | null },
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const roleId =
      member.role === null
        ? sql`NULL`
        : sql`(SELECT id FROM ${table(sql, tenant, "groupRoles")} WHERE name::text = ${member.role})`
    yield* sql`INSERT INTO ${table(sql, tenant, "groupMembers")} ("groupId", "userId", "groupRoleId")
      VALUES (${member.groupId}, ${member.userId}, ${roleId})`
  })

export const setGroupMemberRole = (tenant: Tenant, member: { groupId: number; userId: number; role: string }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE ${table(sql, tenant, "groupMembers")}
      SET "groupRoleId" = (SELECT id FROM ${table(sql, tenant, "groupRoles")} WHERE name::text = ${member.role}), "updatedAt" = now()
      WHERE "groupId" = ${member.groupId} AND "userId" = ${member.userId}`
  })

/** Leaving, removal and rejection delete the row in OpenMeet. */
export const removeGroupMember = (tenant: Tenant, member: { groupId: number; userId: number }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM ${table(sql, tenant, "groupMembers")}
      WHERE "groupId" = ${member.groupId} AND "userId" = ${member.userId}`
  })
