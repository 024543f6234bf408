import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { fixtureUlid } from "./Fixture.ts"
import { registryDdl, tenantDdl, tenantSeedDml, userStatuses } from "./OpenMeetSchema.ts"
import type { Tenant } from "./TenantConfig.ts"

/** How big a tenant to build; everything else follows from the seed. */
export interface SeedSpec {
  readonly tenant: Tenant
  readonly seed: number
  readonly events: number
  /** Attendee rows per event are drawn from 0 to this, less one (13 unless given; 50 gives about 25). */
  readonly attendeesPerEvent?: number
  /** Users to draw attendees from (four per event unless given). */
  readonly users?: number
}

export interface SeedSummary {
  readonly users: number
  /** Matrix localparts of every user with a handle. */
  readonly handles: ReadonlyArray<string>
  readonly events: number
  readonly attendees: number
  readonly groups: number
  readonly groupMembers: number
}

/** A small deterministic PRNG (mulberry32): the same seed builds the same tenant. */
export const random = (seed: number) => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  /** Picks from weighted choices: [[value, weight], ...]. */
  const weighted = <T>(choices: ReadonlyArray<readonly [T, number]>): T => {
    const total = choices.reduce((sum, [, weight]) => sum + weight, 0)
    let roll = next() * total
    for (const [value, weight] of choices) {
      roll -= weight
      if (roll < 0) return value
    }
    const last = choices[choices.length - 1]
    if (last === undefined) throw new Error("weighted() needs at least one choice")
    return last[0]
  }
  const shuffle = <T>(items: ReadonlyArray<T>): Array<T> => {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(i + 1)
      const a = out[i]
      const b = out[j]
      if (a !== undefined && b !== undefined) {
        out[i] = b
        out[j] = a
      }
    }
    return out
  }
  return { next, int, weighted, shuffle }
}

/** The localpart OpenMeet would register for a seeded user. */
export const seededHandle = (tenantId: string, userId: number): string =>
  `${tenantId === "" ? "" : `${tenantId.toLowerCase()}.`}user${userId}`

const chunked = <T>(rows: ReadonlyArray<T>, size: number): Array<ReadonlyArray<T>> => {
  const out: Array<ReadonlyArray<T>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

/** Creates OpenMeet's tables (idempotent). */
export const createOpenMeetSchema = (tenant: Tenant): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const statement of [...registryDdl, ...tenantDdl(tenant.schema), ...tenantSeedDml(tenant.schema)]) {
      yield* sql.unsafe(statement)
    }
  })

/** A role id no `"eventRoles"` row has: `"roleId"` has no foreign key in OpenMeet. */
export const danglingRoleId = 999

/**
 * Builds a realistic tenant: users (some inactive, some without handles), events in
 * every status and visibility, attendees in every status and role, groups and members.
 * Role ids are shuffled per tenant, as in OpenMeet where they differ between tenants.
 * It has OpenMeet's messy rows too: NULL statuses, visibilities and roles, legacy labels,
 * attendees whose role id names no role, duplicate group members, member rows without
 * a user or a group.
 */
export const seedTenant = (spec: SeedSpec): Effect.Effect<SeedSummary, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { tenant } = spec
    const rnd = random(spec.seed)
    yield* createOpenMeetSchema(tenant)
    // The identifier escaper quotes each dotted part: "tenant_x"."events".
    const table = (name: string) => sql(`${tenant.schema}.${name}`)

    const insert = (name: string, rows: ReadonlyArray<Record<string, unknown>>) =>
      Effect.forEach(chunked(rows, 1000), (chunk) => sql`INSERT INTO ${table(name)} ${sql.insert(chunk)}`, {
        discard: true,
      })

    const eventRoleNames = rnd.shuffle(["participant", "host", "speaker", "moderator", "guest"])
    const groupRoleNames = rnd.shuffle(["owner", "admin", "moderator", "member", "guest"])
    // Ids start at a tenant-specific offset, so the same name has different ids per tenant.
    const roleBase = 1 + rnd.int(20)
    const eventRoleId = new Map(eventRoleNames.map((name, i) => [name, roleBase + i]))
    const groupRoleId = new Map(groupRoleNames.map((name, i) => [name, roleBase + 7 + i]))
    yield* insert(
      "eventRoles",
      eventRoleNames.map((name) => ({ id: eventRoleId.get(name), name })),
    )
    yield* insert(
      "groupRoles",
      groupRoleNames.map((name) => ({ id: groupRoleId.get(name), name })),
    )

    const userCount = spec.users ?? spec.events * 4 + 20
    const users = Array.from({ length: userCount }, (_, i) => {
      const id = i + 1
      return {
        id,
        ulid: fixtureUlid(id),
        slug: `user-${id}`,
        email: `user${id}@${tenant.id || "public"}.example`,
        firstName: `First${id}`,
        lastName: `Last${id}`,
        statusId: rnd.weighted<number | null>([
          [userStatuses.active, 95],
          [userStatuses.inactive, 4],
          [null, 1],
        ]),
        roleId: 2,
        isShadowAccount: false,
        deletedAt: rnd.next() < 0.01 ? new Date("2026-01-01T00:00:00Z") : null,
      }
    })
    yield* insert("users", users)
    const handles = users
      .filter(() => rnd.next() < 0.9)
      .map((user) => ({ id: user.id, handle: seededHandle(tenant.id, user.id) }))
    yield* Effect.forEach(
      chunked(
        handles.map(({ id, handle }) => ({ handle, tenantId: tenant.id, userId: id })),
        1000,
      ),
      (chunk) => sql`INSERT INTO public."matrixHandleRegistry" ${sql.insert(chunk)}`,
      { discard: true },
    )

    const pickUser = () => 1 + rnd.int(userCount)
    const groupCount = Math.max(1, Math.floor(spec.events / 5))
    const groups = Array.from({ length: groupCount }, (_, i) => ({
      id: i + 1,
      name: `Group ${i + 1}`,
      slug: `group-${i + 1}-${spec.seed}`,
      status: rnd.weighted([
        ["published", 80],
        ["draft", 10],
        ["pending", 10],
      ]),
      visibility: rnd.weighted<string | null>([
        ["public", 50],
        ["unlisted", 15],
        ["authenticated", 5],
        ["private", 28],
        [null, 2],
      ]),
      createdById: pickUser(),
      matrixRoomId: null,
    }))
    yield* insert("groups", groups)
    const groupMembers: Array<{ userId: number | null; groupId: number | null; groupRoleId: number | null }> =
      groups.flatMap((group) => {
        const memberIds = new Set([group.createdById, ...Array.from({ length: rnd.int(15) }, pickUser)])
        return [...memberIds].flatMap((userId) => {
          const role =
            userId === group.createdById
              ? "owner"
              : rnd.weighted<string | null>([
                  ["member", 68],
                  ["guest", 10],
                  ["moderator", 10],
                  ["admin", 10],
                  [null, 2],
                ])
          const row = { userId, groupId: group.id, groupRoleId: role === null ? null : (groupRoleId.get(role) ?? null) }
          // Nothing stops OpenMeet from keeping a second row for the same member.
          const duplicate = rnd.next() < 0.05 ? [{ ...row, groupRoleId: groupRoleId.get("member") ?? null }] : []
          return [row, ...duplicate]
        })
      })
    // Rows that belong to no one: a member without a user, a member of no group.
    groupMembers.push(
      { userId: null, groupId: 1, groupRoleId: groupRoleId.get("member") ?? null },
      { userId: pickUser(), groupId: null, groupRoleId: groupRoleId.get("owner") ?? null },
    )
    yield* insert("groupMembers", groupMembers)

    const events = Array.from({ length: spec.events }, (_, i) => ({
      id: i + 1,
      name: `Event ${i + 1}`,
      slug: `event-${i + 1}-${spec.seed}`,
      status: rnd.weighted<string | null>([
        ["published", 70],
        ["cancelled", 10],
        ["draft", 10],
        ["pending", 5],
        [null, 5],
      ]),
      visibility: rnd.weighted<string | null>([
        ["public", 45],
        ["unlisted", 20],
        ["authenticated", 5],
        ["private", 28],
        [null, 2],
      ]),
      userId: pickUser(),
      groupId: rnd.next() < 0.4 ? 1 + rnd.int(groupCount) : null,
      startDate: new Date(Date.UTC(2026, 11, 1 + (i % 28), 18)),
      matrixRoomId: null,
    }))
    yield* insert("events", events)
    const attendees = events.flatMap((event) => {
      const attendeeIds = new Set(Array.from({ length: rnd.int(spec.attendeesPerEvent ?? 13) }, pickUser))
      // Most owners attend their own event as host; some have no attendee row at all.
      if (rnd.next() < 0.8) attendeeIds.add(event.userId)
      return [...attendeeIds].map((userId) => ({
        eventId: event.id,
        userId,
        // OpenMeet leaves the status NULL on some rows.
        status: rnd.weighted<string | null>([
          ["confirmed", 48],
          ["attended", 5],
          ["cancelled", 5],
          ["rejected", 5],
          ["invited", 5],
          ["maybe", 5],
          ["pending", 10],
          ["waitlist", 15],
          [null, 2],
        ]),
        // Now and then a role id that names no role: the row cannot be decided.
        roleId:
          rnd.next() < 0.01
            ? danglingRoleId
            : eventRoleId.get(
                userId === event.userId
                  ? "host"
                  : rnd.weighted([
                      ["participant", 80],
                      ["speaker", 5],
                      ["moderator", 5],
                      ["host", 5],
                      ["guest", 5],
                    ]),
              ),
      }))
    })
    yield* insert("eventAttendees", attendees)
    for (const name of ["users", "events", "groups", "eventAttendees", "groupMembers", "eventRoles", "groupRoles"]) {
      yield* sql.unsafe(
        `SELECT setval(pg_get_serial_sequence('"${tenant.schema}"."${name}"', 'id'), (SELECT coalesce(max(id), 1) FROM "${tenant.schema}"."${name}"))`,
      )
    }
    return {
      users: users.length,
      handles: handles.map((h) => h.handle),
      events: events.length,
      attendees: attendees.length,
      groups: groups.length,
      groupMembers: groupMembers.length,
    }
  })
