/**
 * OpenMeet's schema as the reconciler depends on it, for test fixtures, the demo and
 * benchmarks: the tables, column types, nullability and constraints that OpenMeet's
 * own TypeORM migrations build ("The real schema" in openmeet-facts.md). It allows the
 * rows the real one allows (NULL statuses and roles, a role id with no role behind it,
 * duplicate group members, legacy enum labels) and refuses what the real one refuses.
 * Columns the reconciler never reads (descriptions, locations, source types) are left
 * out. The one place that knows OpenMeet's DDL: a schema change in OpenMeet is a
 * change to this file.
 */

const q = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`

/** `timestamp without time zone` holding UTC, as TypeORM's date columns are. */
const timestamps = `"createdAt" timestamp NOT NULL DEFAULT now(),
      "updatedAt" timestamp NOT NULL DEFAULT now()`

/** DDL of the global handle registry in `public`: no foreign key, nullable timestamps. */
export const registryDdl: ReadonlyArray<string> = [
  `CREATE TABLE IF NOT EXISTS public."matrixHandleRegistry" (
    id serial PRIMARY KEY,
    handle varchar(255) NOT NULL UNIQUE,
    "tenantId" varchar(255) NOT NULL,
    "userId" integer NOT NULL,
    "createdAt" timestamp DEFAULT now(),
    "updatedAt" timestamp DEFAULT now()
  )`,
  // A registry made by an earlier version of these fixtures had timezone-aware, NOT NULL
  // timestamps; the registry is shared by every tenant, so it is brought to OpenMeet's shape.
  `DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
               AND table_name = 'matrixHandleRegistry' AND column_name = 'updatedAt'
               AND data_type = 'timestamp with time zone') THEN
      ALTER TABLE public."matrixHandleRegistry"
        ALTER COLUMN "createdAt" TYPE timestamp USING "createdAt" AT TIME ZONE 'UTC',
        ALTER COLUMN "createdAt" DROP NOT NULL,
        ALTER COLUMN "updatedAt" TYPE timestamp USING "updatedAt" AT TIME ZONE 'UTC',
        ALTER COLUMN "updatedAt" DROP NOT NULL;
    END IF;
  END $$`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "idx_matrix_handle_registry_handle_lower" ON public."matrixHandleRegistry" (lower(handle))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "idx_matrix_handle_registry_one_per_user" ON public."matrixHandleRegistry" ("tenantId", "userId")`,
]

/** OpenMeet's enum types and their labels, legacy ones included (`authenticated` = `unlisted`). */
const enums: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["events_status_enum", ["draft", "pending", "published", "cancelled"]],
  ["events_visibility_enum", ["public", "authenticated", "private", "unlisted"]],
  [
    "eventAttendees_status_enum",
    ["invited", "confirmed", "attended", "cancelled", "rejected", "maybe", "pending", "waitlist"],
  ],
  ["eventAttendees_role_enum", ["participant", "host", "speaker", "moderator", "guest"]],
  ["groups_status_enum", ["draft", "pending", "published"]],
  ["groups_visibility_enum", ["public", "authenticated", "private", "unlisted"]],
  ["groupRoles_name_enum", ["owner", "admin", "moderator", "member", "guest"]],
]

/** `users."statusId"` → `statuses`: fixed ids, 1 Active and 2 Inactive. */
export const userStatuses = { active: 1, inactive: 2 } as const

/** DDL of one tenant's schema (`tenant_<id>`, or `public` for the tenant `''`), as OpenMeet's migrations leave it. */
export const tenantDdl = (schema: string): ReadonlyArray<string> => {
  const s = q(schema)
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    ...enums.map(
      ([name, labels]) =>
        `DO $$ BEGIN CREATE TYPE ${s}.${q(name)} AS ENUM (${labels.map((v) => `'${v}'`).join(", ")}); EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    ),
    `CREATE TABLE IF NOT EXISTS ${s}.statuses (id integer PRIMARY KEY, name varchar NOT NULL, ${timestamps})`,
    `CREATE TABLE IF NOT EXISTS ${s}.roles (id serial PRIMARY KEY, name varchar NOT NULL, ${timestamps})`,
    // slug is only indexed: two users can share one.
    `CREATE TABLE IF NOT EXISTS ${s}.users (
      id serial PRIMARY KEY,
      ulid varchar(26) NOT NULL UNIQUE,
      slug varchar(255),
      email varchar(255) UNIQUE,
      "firstName" varchar(255),
      "lastName" varchar(255),
      "statusId" integer REFERENCES ${s}.statuses(id),
      "roleId" integer REFERENCES ${s}.roles(id),
      "isShadowAccount" boolean NOT NULL DEFAULT false,
      "deletedAt" timestamp,
      ${timestamps}
    )`,
    `CREATE INDEX IF NOT EXISTS ${q(`IDX_${schema}_users_slug`)} ON ${s}.users (slug)`,
    // Plain text, not an enum: any name can appear. Ids differ per tenant.
    `CREATE TABLE IF NOT EXISTS ${s}."eventRoles" (id serial PRIMARY KEY, name varchar(255) NOT NULL, ${timestamps})`,
    `CREATE TABLE IF NOT EXISTS ${s}."groupRoles" (id serial PRIMARY KEY, name ${s}."groupRoles_name_enum" NOT NULL, ${timestamps})`,
    // slug is only indexed: two groups can share one, and so an alias.
    `CREATE TABLE IF NOT EXISTS ${s}.groups (
      id serial PRIMARY KEY,
      ulid varchar(26),
      name varchar(255) NOT NULL,
      slug varchar(255) NOT NULL,
      status ${s}."groups_status_enum",
      visibility ${s}."groups_visibility_enum",
      "requireApproval" boolean NOT NULL DEFAULT true,
      "createdById" integer REFERENCES ${s}.users(id),
      "matrixRoomId" varchar(255),
      ${timestamps}
    )`,
    `CREATE INDEX IF NOT EXISTS ${q(`IDX_${schema}_groups_slug`)} ON ${s}.groups (slug)`,
    // Every column nullable, no unique (group, user): a user can appear twice in a group.
    `CREATE TABLE IF NOT EXISTS ${s}."groupMembers" (
      id serial PRIMARY KEY,
      "userId" integer REFERENCES ${s}.users(id),
      "groupRoleId" integer REFERENCES ${s}."groupRoles"(id),
      "groupId" integer REFERENCES ${s}.groups(id),
      ${timestamps}
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}.events (
      id serial PRIMARY KEY,
      ulid varchar(26),
      name varchar(255) NOT NULL,
      slug varchar(255) NOT NULL UNIQUE,
      status ${s}."events_status_enum",
      visibility ${s}."events_visibility_enum",
      "startDate" timestamp NOT NULL,
      "endDate" timestamp,
      "userId" integer REFERENCES ${s}.users(id),
      "groupId" integer REFERENCES ${s}.groups(id),
      "matrixRoomId" varchar(255),
      "seriesSlug" varchar(255),
      "requireApproval" boolean NOT NULL DEFAULT false,
      "allowWaitlist" boolean NOT NULL DEFAULT false,
      "maxAttendees" integer,
      ${timestamps}
    )`,
    // status nullable without default; "roleId" NOT NULL but without a foreign key, so it
    // can name a role that does not exist; the legacy role column is left NULL by the app.
    `CREATE TABLE IF NOT EXISTS ${s}."eventAttendees" (
      id serial PRIMARY KEY,
      status ${s}."eventAttendees_status_enum",
      role ${s}."eventAttendees_role_enum",
      "roleId" integer NOT NULL,
      "eventId" integer NOT NULL REFERENCES ${s}.events(id) ON DELETE CASCADE,
      "userId" integer NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
      ${timestamps},
      UNIQUE ("eventId", "userId")
    )`,
  ]
}

/** OpenMeet's tenant tables, dependents first. */
const tenantTables = [
  "eventAttendees",
  "events",
  "groupMembers",
  "groups",
  "eventRoles",
  "groupRoles",
  "users",
  "roles",
  "statuses",
]

/** Drops a tenant's tables and its rows in the registry (tests and the demo reset with it). */
export const dropTenantDdl = (schema: string, tenantId: string): ReadonlyArray<string> => [
  // The tenant '' lives in `public`, next to the registry: drop its tables and types, not the schema.
  ...(schema === "public"
    ? [
        ...tenantTables.map((table) => `DROP TABLE IF EXISTS public.${q(table)} CASCADE`),
        ...enums.map(([name]) => `DROP TYPE IF EXISTS public.${q(name)} CASCADE`),
      ]
    : [`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`]),
  `DELETE FROM public."matrixHandleRegistry" WHERE "tenantId" = '${tenantId.replaceAll("'", "''")}'`,
]

/** The fixed rows every migrated tenant has: user statuses and site roles. */
export const tenantSeedDml = (schema: string): ReadonlyArray<string> => [
  `INSERT INTO ${q(schema)}.statuses (id, name) VALUES (${userStatuses.active}, 'Active'), (${userStatuses.inactive}, 'Inactive') ON CONFLICT DO NOTHING`,
  `INSERT INTO ${q(schema)}.roles (id, name) VALUES (1, 'admin'), (2, 'user'), (3, 'editor') ON CONFLICT DO NOTHING`,
]
