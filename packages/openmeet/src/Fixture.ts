/**
 * Row-by-row fixtures of OpenMeet's tables for tests (Seed.ts builds whole tenants).
 * Never point these at a real OpenMeet database: resetTenant drops the tenant's tables.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { dropTenantDdl, registryDdl, tenantDdl } from "./OpenMeetSchema.ts"
import type { Tenant } from "./TenantConfig.ts"
import { encodeTenantsB64, tenantSchema } from "./TenantConfig.ts"

/** A tenant config for tests. */
export const fixtureTenant = (id: string, serverName: string): Tenant => ({
  id,
  name: id,
  schema: tenantSchema(id),
  serverName,
})

/** OpenMeet's TENANTS_B64 for these tenants. */
export const tenantsB64 = (tenants: ReadonlyArray<Tenant>): string =>
  encodeTenantsB64(tenants.map((t) => ({ id: t.id, name: t.name, matrixConfig: { serverName: t.serverName } })))

const table = (sql: SqlClient.SqlClient, tenant: Tenant, name: string) => sql(`${tenant.schema}.${name}`)

/** Drops and re-creates a tenant's tables; role ids start at `roleBase` (they differ per tenant in OpenMeet). */
export const resetTenant = (tenant: Tenant, roleBase = 10) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const s of [...registryDdl, ...dropTenantDdl(tenant.schema, tenant.id), ...tenantDdl(tenant.schema)]) {
      yield* sql.unsafe(s)
    }
    const eventRoles = ["guest", "speaker", "moderator", "host", "participant"]
    const groupRoles = ["guest", "member", "moderator", "admin", "owner"]
    yield* sql`INSERT INTO ${table(sql, tenant, "eventRoles")} ${sql.insert(eventRoles.map((name, i) => ({ id: roleBase + i, name })))}`
    yield* sql`INSERT INTO ${table(sql, tenant, "groupRoles")} ${sql.insert(groupRoles.map((name, i) => ({ id: roleBase + i, name })))}`
  })

export const addUser = (tenant: Tenant, user: { id: number; handle?: string | null; statusId?: number }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "users")} ${sql.insert({ id: user.id, slug: `user-${user.id}`, statusId: user.statusId ?? 1 })}`
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
  readonly status?: string | null
  readonly visibility?: string
  readonly userId?: number | null
  readonly matrixRoomId?: string | null
}

export const addEvent = (tenant: Tenant, event: EventRow) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "events")} ${sql.insert({
      id: event.id,
      slug: event.slug,
      name: event.name ?? `Event ${event.id}`,
      status: event.status === undefined ? "published" : event.status,
      visibility: event.visibility ?? "public",
      userId: event.userId ?? null,
      matrixRoomId: event.matrixRoomId ?? null,
    })}`
  })

export const addAttendee = (
  tenant: Tenant,
  attendee: { eventId: number; userId: number; status: string; role?: string },
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "eventAttendees")} ("eventId", "userId", status, "roleId")
      VALUES (${attendee.eventId}, ${attendee.userId}, ${attendee.status},
              (SELECT id FROM ${table(sql, tenant, "eventRoles")} WHERE name = ${attendee.role ?? "participant"}))`
  })

export const setAttendee = (
  tenant: Tenant,
  attendee: { eventId: number; userId: number; status?: string; role?: string },
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
  readonly visibility?: string
  readonly matrixRoomId?: string | null
}

export const addGroup = (tenant: Tenant, group: GroupRow) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "groups")} ${sql.insert({
      id: group.id,
      slug: group.slug,
      name: group.name ?? `Group ${group.id}`,
      status: group.status === undefined ? "published" : group.status,
      visibility: group.visibility ?? "public",
      matrixRoomId: group.matrixRoomId ?? null,
    })}`
  })

export const addGroupMember = (tenant: Tenant, member: { groupId: number; userId: number; role: string }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${table(sql, tenant, "groupMembers")} ("groupId", "userId", "groupRoleId")
      VALUES (${member.groupId}, ${member.userId},
              (SELECT id FROM ${table(sql, tenant, "groupRoles")} WHERE name = ${member.role}))`
  })

export const setGroupMemberRole = (tenant: Tenant, member: { groupId: number; userId: number; role: string }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`UPDATE ${table(sql, tenant, "groupMembers")}
      SET "groupRoleId" = (SELECT id FROM ${table(sql, tenant, "groupRoles")} WHERE name = ${member.role}), "updatedAt" = now()
      WHERE "groupId" = ${member.groupId} AND "userId" = ${member.userId}`
  })

/** Leaving, removal and rejection delete the row in OpenMeet. */
export const removeGroupMember = (tenant: Tenant, member: { groupId: number; userId: number }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM ${table(sql, tenant, "groupMembers")}
      WHERE "groupId" = ${member.groupId} AND "userId" = ${member.userId}`
  })
