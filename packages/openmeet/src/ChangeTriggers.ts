import { SqlClient } from "@effect/sql"
import { Data, Effect, Schema } from "effect"
import { describeSqlError } from "./SqlErrors.ts"
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

/** A tenant's watched tables, schema-qualified and quoted (as `to_regclass` reads them). */
const tenantTables = (tenant: Tenant): ReadonlyArray<string> =>
  Object.keys(watchedTables).map((table) => `${ident(tenant.schema)}.${ident(table)}`)

/**
 * Runs the shared statements, then each tenant's, in one transaction: all or nothing. A
 * failure names the tenant (a missing table, no privilege to create triggers).
 */
const runDdl = (
  shared: ReadonlyArray<string>,
  tenants: ReadonlyArray<Tenant>,
  statements: (tenant: Tenant) => ReadonlyArray<string>,
  options: { readonly requireTables: boolean },
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const run = (where: string, list: ReadonlyArray<string>) =>
      Effect.forEach(list, (statement) => sql.unsafe(statement), { discard: true }).pipe(
        Effect.mapError((error) => new TriggerError({ tenant: where, message: describeSqlError(error) })),
      )
    // Postgres would only name the first thing missing (often the schema, as the function
    // comes first); naming every missing table tells the operator which tenant is not OpenMeet's.
    const requireTables = (tenant: Tenant) =>
      Effect.gen(function* () {
        const missing = yield* sql<{ name: string }>`
          SELECT t AS name FROM unnest(${tenantTables(tenant)}::text[]) WITH ORDINALITY AS x(t, n)
          WHERE to_regclass(t) IS NULL ORDER BY n`.pipe(
          Effect.mapError((error) => new TriggerError({ tenant: tenant.id, message: describeSqlError(error) })),
        )
        if (missing.length > 0) {
          return yield* new TriggerError({
            tenant: tenant.id,
            message: missing.map((row) => `table ${row.name} does not exist`).join("; "),
          })
        }
      })
    // Postgres names one missing right at a time, in its own words ("permission denied for
    // schema public"); an operator granting rights wants the whole list, and why.
    const requirePrivileges = Effect.gen(function* () {
      const schemas = ["public", ...tenants.map((t) => t.schema)]
      const tables = [`public."matrixHandleRegistry"`, ...tenants.flatMap(tenantTables)]
      const rows = yield* sql<{ role: string; schemas: ReadonlyArray<string>; tables: ReadonlyArray<string> }>`
        SELECT current_user::text AS role,
          array(SELECT x FROM unnest(${schemas}::text[]) AS x WHERE NOT has_schema_privilege(x, 'CREATE')) AS schemas,
          array(SELECT x FROM unnest(${tables}::text[]) AS x WHERE NOT has_table_privilege(x, 'TRIGGER')) AS tables`.pipe(
        Effect.mapError((error) => new TriggerError({ tenant: "", message: describeSqlError(error) })),
      )
      const row = rows[0]
      if (row === undefined || (row.schemas.length === 0 && row.tables.length === 0)) return
      const missing = [
        ...row.schemas.map((schema) => `CREATE on schema ${schema} (for the trigger function)`),
        ...(row.tables.length === 0 ? [] : [`TRIGGER on ${row.tables.join(", ")}`]),
      ]
      return yield* new TriggerError({
        tenant: "",
        message: `the database role ${JSON.stringify(row.role)} lacks ${missing.join("; ")}. Run install-triggers as the tables' owner (OpenMeet's migration role); the daemon itself needs only SELECT and LISTEN`,
      })
    })
    yield* sql.withTransaction(
      Effect.gen(function* () {
        if (options.requireTables) {
          for (const tenant of tenants) yield* requireTables(tenant)
          yield* requirePrivileges
        }
        yield* run("", shared)
        for (const tenant of tenants) yield* run(tenant.id, statements(tenant))
      }),
    )
  }).pipe(
    Effect.mapError((error) =>
      error._tag === "TriggerError" ? error : new TriggerError({ tenant: "", message: describeSqlError(error) }),
    ),
  )

/**
 * Installs NOTIFY triggers on the tables the reconciler reads (opt-in: it needs rights to
 * create functions and triggers, which the daemon itself never needs). Idempotent.
 */
export const installTriggers = (tenants: ReadonlyArray<Tenant>, channel: string) =>
  runDdl(registryTriggerDdl(channel), tenants, (tenant) => tenantTriggersDdl(tenant, channel), {
    requireTables: true,
  })

/** Removes the triggers of these tenants and the shared registry trigger. Idempotent. */
export const uninstallTriggers = (tenants: ReadonlyArray<Tenant>) =>
  runDdl(dropRegistryTriggerDdl, tenants, dropTenantTriggersDdl, { requireTables: false })

const TriggerRow = Schema.Struct({
  table: Schema.String,
  enabled: Schema.String,
  args: Schema.Uint8ArrayFromSelf,
})

/** A trigger's arguments: `tgargs` holds them NUL-terminated. */
const triggerArgs = (bytes: Uint8Array): ReadonlyArray<string> =>
  Buffer.from(bytes).toString("utf8").split("\0").slice(0, -1)

/**
 * Whether all of a tenant's triggers (and the registry's) are there and enabled: the daemon
 * then listens instead of polling. With `channel`, they must also notify that channel (a
 * trigger installed for another channel would leave the daemon listening to silence).
 */
export const triggersInstalled = (tenant: Tenant, channel?: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tables = [...tenantTables(tenant), `public."matrixHandleRegistry"`]
    const rows = yield* sql`
      SELECT c.relname AS table, t.tgenabled::text AS enabled, t.tgargs AS args
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE NOT t.tgisinternal AND t.tgname = ${triggerName}
        AND t.tgrelid IN (SELECT to_regclass(x) FROM unnest(${tables}::text[]) AS x)`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(TriggerRow))),
    )
    const working = new Set(
      rows
        .filter((row) => {
          // 'D' is ALTER TABLE ... DISABLE TRIGGER: the trigger exists but never fires.
          if (row.enabled === "D") return false
          if (channel === undefined) return true
          // The registry's function takes the channel first, the tenants' functions second.
          const args = triggerArgs(row.args)
          return (row.table === "matrixHandleRegistry" ? args[0] : args[1]) === channel
        })
        .map((row) => row.table),
    )
    return working.size === tables.length
  }).pipe(Effect.mapError((error) => new TriggerError({ tenant: tenant.id, message: describeSqlError(error) })))
