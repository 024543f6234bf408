import { SqlClient } from "@effect/sql"
import type {
  AttendeeFacts,
  DataProblem,
  DesiredOutcome,
  EventFacts,
  Policy,
  UserFacts,
} from "@openmeet-reconciler/core"
import { desiredEventRoom } from "@openmeet-reconciler/core"
import { Context, Data, Effect, Either, Layer, ParseResult, Schema } from "effect"
import type { Tenant } from "./TenantConfig.ts"

/** The desired state of every managed room of one tenant (or of the rooms asked for). */
export interface TenantDesired {
  readonly tenant: Tenant
  readonly rooms: ReadonlyArray<DesiredOutcome>
  /** Distinct entitled users without a Matrix handle yet. */
  readonly pendingHandles: number
  /** Rows that could not be read at all (the rooms they belong to are skipped). */
  readonly problems: ReadonlyArray<DataProblem>
}

/** Which rooms to compute; all of the tenant's when absent. */
export interface DesiredFilter {
  readonly eventIds?: ReadonlyArray<string> | undefined
}

/** A query that failed: the tenant's desired state is unknown, so nothing of it may be acted on. */
export class DesiredStateError extends Data.TaggedError("DesiredStateError")<{
  readonly tenant: string
  readonly query: string
  readonly message: string
}> {}

const EventRow = Schema.Struct({
  id: Schema.String,
  slug: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.String),
  visibility: Schema.NullOr(Schema.String),
  ownerId: Schema.NullOr(Schema.String),
  matrixRoomId: Schema.NullOr(Schema.String),
})

const AttendeeRow = Schema.Struct({
  id: Schema.String,
  eventId: Schema.String,
  userId: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.String),
  roleId: Schema.NullOr(Schema.String),
  role: Schema.NullOr(Schema.String),
})

const UserRow = Schema.Struct({
  id: Schema.String,
  statusId: Schema.NullOr(Schema.Number),
  handle: Schema.NullOr(Schema.String),
})

/** The driver's own words: SqlError says only "Failed to execute statement", its cause says why. */
const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message
}

/** Decodes rows one by one: a malformed row becomes a problem, the rest are kept. */
const decodeRows = <A, I>(
  schema: Schema.Schema<A, I>,
  rows: ReadonlyArray<unknown>,
  tenant: string,
  table: string,
): { readonly rows: ReadonlyArray<A>; readonly problems: ReadonlyArray<DataProblem> } => {
  const decode = Schema.decodeUnknownEither(schema)
  const good: Array<A> = []
  const problems: Array<DataProblem> = []
  for (const row of rows) {
    const result = decode(row)
    if (Either.isRight(result)) {
      good.push(result.right)
    } else {
      const id = typeof row === "object" && row !== null && "id" in row ? String(row.id) : "?"
      problems.push({ tenant, table, id, message: ParseResult.TreeFormatter.formatErrorSync(result.left) })
    }
  }
  return { rows: good, problems }
}

/** Reads OpenMeet's database and computes desired rooms (policy.md), a fixed number of queries per tenant. */
export class DesiredState extends Context.Tag("@openmeet-reconciler/openmeet/DesiredState")<
  DesiredState,
  {
    readonly forTenant: (
      tenant: Tenant,
      policy: Policy,
      filter?: DesiredFilter,
    ) => Effect.Effect<TenantDesired, DesiredStateError>
  }
>() {
  /** Over the SqlClient in context (OpenMeet's database; SELECT suffices). */
  static readonly layer = Layer.effect(
    DesiredState,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const forTenant = Effect.fn("DesiredState.forTenant")(function* (
        tenant: Tenant,
        policy: Policy,
        filter?: DesiredFilter,
      ) {
        yield* Effect.annotateCurrentSpan({ tenant: tenant.id })
        const t = (name: string) => sql(`${tenant.schema}.${name}`)
        const ids = filter?.eventIds?.map(Number)
        const only = (column: string) => (ids === undefined ? sql`true` : sql.in(column, ids))
        const run = <A>(query: string, effect: Effect.Effect<A, unknown>) =>
          effect.pipe(
            Effect.mapError(
              (error) =>
                new DesiredStateError({
                  tenant: tenant.id,
                  query,
                  message: describeError(error),
                }),
            ),
            Effect.withSpan(`DesiredState.query ${query}`, { attributes: { tenant: tenant.id, query } }),
          )

        const [eventRows, attendeeRows, userRows] = yield* Effect.all(
          [
            run(
              "events",
              sql`SELECT e.id::text AS id, e.slug, e.name, e.status::text AS status, e.visibility::text AS visibility,
                         e."userId"::text AS "ownerId", e."matrixRoomId" AS "matrixRoomId"
                  FROM ${t("events")} e WHERE ${only("e.id")} ORDER BY e.id`,
            ),
            run(
              "eventAttendees",
              sql`SELECT a.id::text AS id, a."eventId"::text AS "eventId", a."userId"::text AS "userId",
                         a.status::text AS status, a."roleId"::text AS "roleId", r.name AS role
                  FROM ${t("eventAttendees")} a LEFT JOIN ${t("eventRoles")} r ON r.id = a."roleId"
                  WHERE ${only("a.eventId")} ORDER BY a.id`,
            ),
            // Users that any selected event or attendee row points at, with their handle.
            run(
              "users",
              sql`SELECT u.id::text AS id,
                         CASE WHEN u."deletedAt" IS NULL THEN u."statusId" END AS "statusId",
                         h.handle
                  FROM ${t("users")} u
                  LEFT JOIN public."matrixHandleRegistry" h ON h."tenantId" = ${tenant.id} AND h."userId" = u.id
                  WHERE u.id IN (SELECT a."userId" FROM ${t("eventAttendees")} a WHERE ${only("a.eventId")}
                                 UNION SELECT e."userId" FROM ${t("events")} e WHERE ${only("e.id")})`,
            ),
          ],
          { concurrency: "unbounded" },
        )

        const events = decodeRows(EventRow, eventRows, tenant.id, "events")
        const attendees = decodeRows(AttendeeRow, attendeeRows, tenant.id, "eventAttendees")
        const users = decodeRows(UserRow, userRows, tenant.id, "users")
        const userFacts = new Map<string, UserFacts>(users.rows.map((u) => [u.id, u]))
        const byEvent = new Map<string, Array<AttendeeFacts>>()
        const attendeeProblems = new Map<string, Array<DataProblem>>()
        for (const row of attendees.rows) {
          if (row.userId === null) {
            const list = attendeeProblems.get(row.eventId) ?? []
            list.push({ tenant: tenant.id, table: "eventAttendees", id: row.id, message: "userId is NULL" })
            attendeeProblems.set(row.eventId, list)
            continue
          }
          // A role id that points at no role is an unknown role, not a participant.
          const role = row.roleId !== null && row.role === null ? `<missing eventRoles id ${row.roleId}>` : row.role
          const list = byEvent.get(row.eventId) ?? []
          list.push({ id: row.id, userId: row.userId, status: row.status, role })
          byEvent.set(row.eventId, list)
        }

        const pending = new Set<string>()
        const rooms: Array<DesiredOutcome> = []
        for (const event of events.rows) {
          const facts: EventFacts = event
          const result = desiredEventRoom(
            { tenant: tenant.id, serverName: tenant.serverName },
            facts,
            byEvent.get(event.id) ?? [],
            userFacts,
            policy,
          )
          for (const userId of result.pendingHandles) pending.add(userId)
          const extra = attendeeProblems.get(event.id)
          if (extra !== undefined && result.outcome._tag === "Desired") {
            rooms.push({
              _tag: "Failed",
              key: result.outcome.room.key,
              alias: result.outcome.room.alias,
              problems: extra,
            })
          } else if (extra !== undefined && result.outcome._tag === "Failed") {
            rooms.push({ ...result.outcome, problems: [...result.outcome.problems, ...extra] })
          } else {
            rooms.push(result.outcome)
          }
        }
        // An unreadable attendee or user row could belong to any room: no room of the
        // tenant may then be planned as if the row did not exist.
        const unreadable = [...attendees.problems, ...users.problems]
        const safeRooms: ReadonlyArray<DesiredOutcome> =
          unreadable.length === 0
            ? rooms
            : rooms.map((outcome) =>
                outcome._tag === "Failed"
                  ? { ...outcome, problems: [...outcome.problems, ...unreadable] }
                  : { _tag: "Failed", key: outcome.room.key, alias: outcome.room.alias, problems: unreadable },
              )
        return {
          tenant,
          rooms: safeRooms,
          pendingHandles: pending.size,
          problems: [...events.problems, ...unreadable],
        } satisfies TenantDesired
      })
      return { forTenant }
    }),
  )
}
