import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"
import type { Tenant } from "./TenantConfig.ts"

/** The tables whose changes matter, and the column naming the entity each row belongs to. */
export const watchedTables = {
  events: "id",
  eventAttendees: "eventId",
  groups: "id",
  groupMembers: "groupId",
  users: "id",
} as const
export type WatchedTable = keyof typeof watchedTables | "matrixHandleRegistry"

/** The triggers' (and their functions') name: one per table, recognisable, dropped by uninstall. */
export const triggerName = "matrix_reconciler_notify"
const registryFunction = "matrix_reconciler_notify_registry"

/** Installing or removing triggers failed: names the tenant and what was being done. */
export class TriggerError extends Data.TaggedError("TriggerError")<{
  readonly tenant: string
  readonly message: string
}> {}

const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`
const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`

/**
 * The trigger function of a tenant's schema. Its arguments: tenant id, channel, the column
 * with the entity id. It notifies `{"t": tenant, "tb": table, "id": entity}` for the old
 * and the new row (an attendee moved to another event changes two rooms); Postgres drops
 * a transaction's duplicate notifications, so a bulk change of one event's rows is one.
 */
const tenantFunction = (schema: string): string => `
CREATE OR REPLACE FUNCTION ${ident(schema)}.${triggerName}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  old_id text;
  new_id text;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_id := to_jsonb(OLD) ->> TG_ARGV[2]; END IF;
  IF TG_OP <> 'DELETE' THEN new_id := to_jsonb(NEW) ->> TG_ARGV[2]; END IF;
  IF old_id IS NOT NULL THEN
    PERFORM pg_notify(TG_ARGV[1], json_build_object('t', TG_ARGV[0], 'tb', TG_TABLE_NAME, 'id', old_id)::text);
  END IF;
  IF new_id IS NOT NULL AND new_id IS DISTINCT FROM old_id THEN
    PERFORM pg_notify(TG_ARGV[1], json_build_object('t', TG_ARGV[0], 'tb', TG_TABLE_NAME, 'id', new_id)::text);
  END IF;
  RETURN NULL;
END
$fn$`

/** The registry is shared by all tenants: the tenant comes from the row. */
const registryFunctionDdl = `
CREATE OR REPLACE FUNCTION public.${registryFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  r jsonb;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    r := to_jsonb(OLD);
    PERFORM pg_notify(TG_ARGV[0], json_build_object('t', r ->> 'tenantId', 'tb', TG_TABLE_NAME, 'id', r ->> 'userId')::text);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    r := to_jsonb(NEW);
    PERFORM pg_notify(TG_ARGV[0], json_build_object('t', r ->> 'tenantId', 'tb', TG_TABLE_NAME, 'id', r ->> 'userId')::text);
  END IF;
  RETURN NULL;
END
$fn$`

const trigger = (schema: string, table: string, fn: string, args: ReadonlyArray<string>): ReadonlyArray<string> => [
  `DROP TRIGGER IF EXISTS ${triggerName} ON ${ident(schema)}.${ident(table)}`,
  `CREATE TRIGGER ${triggerName} AFTER INSERT OR UPDATE OR DELETE ON ${ident(schema)}.${ident(table)}
     FOR EACH ROW EXECUTE FUNCTION ${fn}(${args.map(literal).join(", ")})`,
]

/** The statements that install the registry's trigger (shared by all tenants); idempotent. */
export const registryTriggerDdl = (channel: string): ReadonlyArray<string> => [
  registryFunctionDdl,
  ...trigger("public", "matrixHandleRegistry", `public.${registryFunction}`, [channel]),
]

/** The statements that install one tenant's triggers; idempotent. */
export const tenantTriggersDdl = (tenant: Tenant, channel: string): ReadonlyArray<string> => [
  tenantFunction(tenant.schema),
  ...Object.entries(watchedTables).flatMap(([table, column]) =>
    trigger(tenant.schema, table, `${ident(tenant.schema)}.${triggerName}`, [tenant.id, channel, column]),
  ),
]

/** The statements that remove one tenant's triggers and function. */
export const dropTenantTriggersDdl = (tenant: Tenant): ReadonlyArray<string> => [
  ...Object.keys(watchedTables).map(
    (table) => `DROP TRIGGER IF EXISTS ${triggerName} ON ${ident(tenant.schema)}.${ident(table)}`,
  ),
  `DROP FUNCTION IF EXISTS ${ident(tenant.schema)}.${triggerName}()`,
]

const dropRegistryTriggerDdl: ReadonlyArray<string> = [
  `DROP TRIGGER IF EXISTS ${triggerName} ON public."matrixHandleRegistry"`,
  `DROP FUNCTION IF EXISTS public.${registryFunction}()`,
]

const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  return error.cause instanceof Error ? error.cause.message : error.message
}

/**
 * Runs the shared statements, then each tenant's, in one transaction: all or nothing. A
 * failure names the tenant (a missing table, no privilege to create triggers).
 */
const runDdl = (
  shared: ReadonlyArray<string>,
  tenants: ReadonlyArray<Tenant>,
  statements: (tenant: Tenant) => ReadonlyArray<string>,
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const run = (where: string, list: ReadonlyArray<string>) =>
      Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true }).pipe(
        Effect.mapError((error) => new TriggerError({ tenant: where, message: describe(error) })),
      )
    yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* run("", shared)
        for (const tenant of tenants) yield* run(tenant.id, statements(tenant))
      }),
    )
  }).pipe(
    Effect.mapError((error) =>
      error._tag === "TriggerError" ? error : new TriggerError({ tenant: "", message: describe(error) }),
    ),
  )

/**
 * Installs NOTIFY triggers on the tables the reconciler reads (opt-in: it needs rights to
 * create functions and triggers, which the daemon itself never needs). Idempotent.
 */
export const installTriggers = (tenants: ReadonlyArray<Tenant>, channel: string) =>
  runDdl(registryTriggerDdl(channel), tenants, (tenant) => tenantTriggersDdl(tenant, channel))

/** Removes the triggers of these tenants and the shared registry trigger. Idempotent. */
export const uninstallTriggers = (tenants: ReadonlyArray<Tenant>) =>
  runDdl(dropRegistryTriggerDdl, tenants, dropTenantTriggersDdl)

/** Whether all of a tenant's triggers (and the registry's) are there: the daemon then listens instead of polling. */
export const triggersInstalled = (tenant: Tenant) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tables = [
      ...Object.keys(watchedTables).map((table) => `${ident(tenant.schema)}.${ident(table)}`),
      `public."matrixHandleRegistry"`,
    ]
    const rows = yield* sql<{ count: number }>`
      SELECT count(*)::int AS count FROM pg_trigger
      WHERE NOT tgisinternal AND tgname = ${triggerName}
        AND tgrelid IN (SELECT to_regclass(t) FROM unnest(${tables}::text[]) AS t)`
    return rows[0]?.count === tables.length
  }).pipe(Effect.mapError((error) => new TriggerError({ tenant: tenant.id, message: describe(error) })))
