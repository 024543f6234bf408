/**
 * OpenMeet's schema as the reconciler depends on it (openmeet-facts.md), for test
 * fixtures, the demo and benchmarks. The one place that knows OpenMeet's DDL: a
 * schema change in OpenMeet is a change to this file.
 */

const q = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`

/** DDL of the global handle registry in `public`. */
export const registryDdl: ReadonlyArray<string> = [
  `CREATE TABLE IF NOT EXISTS public."matrixHandleRegistry" (
    id serial PRIMARY KEY,
    handle varchar(255) NOT NULL UNIQUE,
    "tenantId" varchar(255) NOT NULL,
    "userId" integer NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    UNIQUE ("tenantId", "userId")
  )`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "IDX_matrixHandleRegistry_lower_handle" ON public."matrixHandleRegistry" (lower(handle))`,
]

/** DDL of one tenant's schema (`tenant_<id>`, or `public`), as TypeORM creates it. */
export const tenantDdl = (schema: string): ReadonlyArray<string> => {
  const s = q(schema)
  const enumType = (name: string, values: ReadonlyArray<string>) =>
    `DO $$ BEGIN CREATE TYPE ${s}.${q(name)} AS ENUM (${values.map((v) => `'${v}'`).join(", ")}); EXCEPTION WHEN duplicate_object THEN NULL; END $$`
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    enumType("events_status_enum", ["draft", "pending", "published", "cancelled"]),
    enumType("events_visibility_enum", ["public", "authenticated", "private", "unlisted"]),
    enumType("eventAttendees_status_enum", [
      "invited",
      "confirmed",
      "attended",
      "cancelled",
      "rejected",
      "maybe",
      "pending",
      "waitlist",
    ]),
    enumType("groups_status_enum", ["draft", "pending", "published"]),
    enumType("groups_visibility_enum", ["public", "authenticated", "private", "unlisted"]),
    `CREATE TABLE IF NOT EXISTS ${s}.users (
      id serial PRIMARY KEY,
      slug varchar(255) UNIQUE,
      ulid char(26) UNIQUE,
      email varchar(255),
      "firstName" varchar(255),
      "lastName" varchar(255),
      "statusId" integer,
      "roleId" integer,
      "isShadowAccount" boolean NOT NULL DEFAULT false,
      "deletedAt" timestamptz,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}."eventRoles" (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE)`,
    `CREATE TABLE IF NOT EXISTS ${s}."groupRoles" (id serial PRIMARY KEY, name varchar(255) NOT NULL UNIQUE)`,
    `CREATE TABLE IF NOT EXISTS ${s}.groups (
      id serial PRIMARY KEY,
      ulid char(26) UNIQUE,
      name varchar(255),
      slug varchar(255) UNIQUE,
      status ${s}."groups_status_enum",
      visibility ${s}."groups_visibility_enum",
      "requireApproval" boolean NOT NULL DEFAULT false,
      "createdById" integer REFERENCES ${s}.users(id),
      "matrixRoomId" varchar(255),
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}."groupMembers" (
      id serial PRIMARY KEY,
      "userId" integer REFERENCES ${s}.users(id) ON DELETE CASCADE,
      "groupRoleId" integer REFERENCES ${s}."groupRoles"(id),
      "groupId" integer REFERENCES ${s}.groups(id) ON DELETE CASCADE,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}.events (
      id serial PRIMARY KEY,
      ulid char(26) UNIQUE,
      name varchar(255),
      slug varchar(255) UNIQUE,
      status ${s}."events_status_enum",
      visibility ${s}."events_visibility_enum",
      "startDate" timestamptz,
      "endDate" timestamptz,
      "userId" integer REFERENCES ${s}.users(id),
      "groupId" integer REFERENCES ${s}.groups(id) ON DELETE SET NULL,
      "matrixRoomId" varchar(255),
      "seriesSlug" varchar(255),
      "requireApproval" boolean NOT NULL DEFAULT false,
      "allowWaitlist" boolean NOT NULL DEFAULT false,
      "maxAttendees" integer,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}."eventAttendees" (
      id serial PRIMARY KEY,
      status ${s}."eventAttendees_status_enum",
      role varchar(255),
      "roleId" integer REFERENCES ${s}."eventRoles"(id),
      "eventId" integer REFERENCES ${s}.events(id) ON DELETE CASCADE,
      "userId" integer REFERENCES ${s}.users(id) ON DELETE CASCADE,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "updatedAt" timestamptz NOT NULL DEFAULT now(),
      UNIQUE ("eventId", "userId")
    )`,
  ]
}

const tenantTables = ["eventAttendees", "events", "groupMembers", "groups", "eventRoles", "groupRoles", "users"]

/** Drops a tenant's tables and its rows in the registry (tests and the demo reset with it). */
export const dropTenantDdl = (schema: string, tenantId: string): ReadonlyArray<string> => [
  // The empty tenant lives in `public`, next to the registry: drop its tables, not the schema.
  ...(schema === "public"
    ? tenantTables.map((table) => `DROP TABLE IF EXISTS public.${q(table)} CASCADE`)
    : [`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`]),
  `DELETE FROM public."matrixHandleRegistry" WHERE "tenantId" = '${tenantId.replaceAll("'", "''")}'`,
]
