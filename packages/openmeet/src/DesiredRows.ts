import type { DataProblem } from "@openmeet-reconciler/core"
import { Either, ParseResult, Schema } from "effect"

/*
 * The rows the desired-state queries return, as Schemas, each with a guard that accepts
 * exactly what its Schema accepts (test/DesiredRows.test.ts checks that on arbitrary
 * input). A tenant has hundreds of thousands of member rows: the guard checks one in a
 * fraction of the time a Schema decode takes, and the Schema decodes (and describes) only
 * the rows the guard refuses.
 */

const text = (value: unknown): value is string => typeof value === "string"
const textOrNull = (value: unknown): value is string | null => value === null || typeof value === "string"
// As Schema.Struct does, an array counts as an object (it then lacks the fields).
const isObject = (value: unknown): value is { readonly [key: string]: unknown } =>
  typeof value === "object" && value !== null

type Check<A> = (value: unknown) => value is A

/** A guard of an object's fields, one check per field (as a Struct ignores other keys). */
const fieldsGuard =
  <A>(checks: { readonly [K in keyof A]: Check<A[K]> }) =>
  (row: unknown): row is A => {
    if (!isObject(row)) return false
    for (const key in checks) if (!checks[key](row[key])) return false
    return true
  }

const entityFields = {
  id: Schema.String,
  slug: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  status: Schema.NullOr(Schema.String),
  visibility: Schema.NullOr(Schema.String),
  matrixRoomId: Schema.NullOr(Schema.String),
}
const entityChecks = {
  id: text,
  slug: textOrNull,
  name: textOrNull,
  status: textOrNull,
  visibility: textOrNull,
  matrixRoomId: textOrNull,
}

export const EventRow = Schema.Struct({ ...entityFields, ownerId: Schema.NullOr(Schema.String) })
export type EventRow = typeof EventRow.Type
export const isEventRow = fieldsGuard<EventRow>({ ...entityChecks, ownerId: textOrNull })

export const GroupRow = Schema.Struct(entityFields)
export type GroupRow = typeof GroupRow.Type
export const isGroupRow = fieldsGuard<GroupRow>(entityChecks)

export const UserRow = Schema.Struct({
  id: Schema.String,
  statusId: Schema.NullOr(Schema.Number),
  handle: Schema.NullOr(Schema.String),
  missing: Schema.Boolean,
})
export type UserRow = typeof UserRow.Type
export const isUserRow = fieldsGuard<UserRow>({
  id: text,
  statusId: (value): value is number | null => value === null || typeof value === "number",
  handle: textOrNull,
  missing: (value): value is boolean => typeof value === "boolean",
})

/**
 * One attendee or group member row, as PostgreSQL packs them per event or group:
 * `[id, userId, status, role name, roleId when no role has it]` (a group member has no
 * status). OpenMeet allows NULL in every column of `"groupMembers"`.
 */
export const MemberTuple = Schema.Tuple(
  Schema.String,
  Schema.NullOr(Schema.String),
  Schema.NullOr(Schema.String),
  Schema.NullOr(Schema.String),
  Schema.NullOr(Schema.String),
)
export type MemberTuple = typeof MemberTuple.Type

/**
 * Member rows travel packed, one text per event or group, which PostgreSQL builds and Node
 * splits far faster than rows or JSON: rows end with RS (U+001E), fields with US
 * (U+001F); a value is `=` and its text, an empty field is NULL. A separator inside a
 * value (only free text such as a role name could hold one) changes the row's number of
 * fields, so the row is refused as unreadable, never read wrongly.
 */
export const packedRow = (expressions: ReadonlyArray<string>): string =>
  `concat(${expressions.map((expression) => `'=' || (${expression})::text`).join(", E'\\x1f', ")})`
export const packedSeparator = "E'\\x1e'"

const unpackField = (field: string): string | null => (field === "" ? null : field.slice(1))

const separatorNote =
  "a value holds U+001E or U+001F, the separators the rows are read with, so its fields cannot be told apart: "

const RS = "\u001e"
const US = "\u001f"

/** The value of the field from `start` to `end` of a packed text (`=` and its text; empty is NULL). */
const fieldAt = (packed: string, start: number, end: number): string | null =>
  start === end ? null : packed.slice(start + 1, end)

/**
 * The member rows of one packed text, in the order of their ids, read in one pass with no
 * array per row (a tenant has hundreds of thousands). A row is readable when it has exactly
 * five fields and an id (what `MemberTuple` accepts of its fields); any other row is
 * returned apart, as its fields, for the Schema to name what is wrong with it. With
 * `keep` false the readable rows are only checked, not made (`rows` is then empty): the
 * whole tenant is checked first, and each room's rows are made when its room is built.
 */
export const unpackMemberRows = (
  packed: string,
  keep = true,
): { readonly rows: ReadonlyArray<MemberRow>; readonly refused: ReadonlyArray<ReadonlyArray<string | null>> } => {
  const rows: Array<MemberRow> = []
  const refused: Array<ReadonlyArray<string | null>> = []
  if (packed === "") return { rows, refused }
  // PostgreSQL aggregates them in id order; they are sorted here only when they are not.
  let sorted = true
  let previousId = Number.NEGATIVE_INFINITY
  const length = packed.length
  let start = 0
  while (start <= length) {
    let end = packed.indexOf(RS, start)
    if (end === -1) end = length
    // The four field separators of a readable row (the last one must be the row's last).
    const a = packed.indexOf(US, start)
    const b = a === -1 ? -1 : packed.indexOf(US, a + 1)
    const c = b === -1 ? -1 : packed.indexOf(US, b + 1)
    const d = c === -1 ? -1 : packed.indexOf(US, c + 1)
    const after = d === -1 ? -1 : packed.indexOf(US, d + 1)
    if (a > start && d !== -1 && d < end && (after === -1 || after > end)) {
      if (!keep) {
        start = end + 1
        continue
      }
      const id = packed.slice(start + 1, a)
      const numeric = Number(id)
      if (!(numeric >= previousId)) sorted = false
      previousId = numeric
      rows.push({
        id,
        userId: fieldAt(packed, a + 1, b),
        status: fieldAt(packed, b + 1, c),
        role: fieldAt(packed, c + 1, d),
        roleId: fieldAt(packed, d + 1, end),
      })
    } else {
      refused.push(packed.slice(start, end).split(US).map(unpackField))
    }
    start = end + 1
  }
  if (!sorted) rows.sort((x, y) => Number(x.id) - Number(y.id))
  return { rows, refused }
}

/** The packed member rows of one event or group (`parentId` NULL: rows of none). */
export const MemberGroup = Schema.Struct({
  parentId: Schema.NullOr(Schema.String),
  rows: Schema.String,
})

export const isMemberGroup = fieldsGuard<typeof MemberGroup.Type>({ parentId: textOrNull, rows: text })

export interface MemberRow {
  readonly id: string
  readonly userId: string | null
  readonly status: string | null
  readonly role: string | null
  readonly roleId: string | null
}

export interface Decoded<A> {
  readonly rows: ReadonlyArray<A>
  readonly problems: ReadonlyArray<DataProblem>
}

const describe = <A, I>(schema: Schema.Schema<A, I>, row: unknown): string =>
  Either.match(Schema.decodeUnknownEither(schema)(row), {
    onLeft: (error) => ParseResult.TreeFormatter.formatErrorSync(error),
    // The guard refused what the Schema takes: a defect of the guard, still named.
    onRight: () => "refused by the row check though its Schema accepts it",
  })

const idOf = (row: unknown): string => {
  const id = Array.isArray(row) ? row[0] : isObject(row) ? row.id : undefined
  return id === undefined || id === null ? "?" : String(id)
}

/** Keeps the rows its guard accepts; every other row becomes a problem named by its Schema. */
export const decodeRows = <A, I>(
  schema: Schema.Schema<A, I>,
  guard: (row: unknown) => row is A,
  rows: ReadonlyArray<unknown>,
  tenant: string,
  table: string,
): Decoded<A> => {
  const good: Array<A> = []
  const problems: Array<DataProblem> = []
  for (const row of rows) {
    if (guard(row)) good.push(row)
    else problems.push({ tenant, table, id: idOf(row), message: describe(schema, row) })
  }
  return { rows: good, problems }
}

/**
 * Member rows aggregated per event or group, by parent id, checked but kept packed (a
 * tenant's rows as objects would outweigh the rooms built from them): `rowsOf` makes one
 * parent's rows. The rows of no event or group are checked too (an unreadable row may
 * belong to any room) but belong to no room.
 */
export const decodeMemberGroups = (
  groups: ReadonlyArray<unknown>,
  tenant: string,
  table: string,
): {
  readonly byParent: ReadonlyMap<string, string>
  readonly rowsOf: (parentId: string) => ReadonlyArray<MemberRow>
  readonly problems: ReadonlyArray<DataProblem>
} => {
  const byParent = new Map<string, string>()
  const problems: Array<DataProblem> = []
  for (const group of groups) {
    if (!isMemberGroup(group)) {
      problems.push({ tenant, table, id: "?", message: describe(MemberGroup, group) })
      continue
    }
    const { refused } = unpackMemberRows(group.rows, false)
    for (const fields of refused) {
      problems.push({ tenant, table, id: idOf(fields), message: `${separatorNote}${describe(MemberTuple, fields)}` })
    }
    if (group.parentId !== null) byParent.set(group.parentId, group.rows)
  }
  const rowsOf = (parentId: string) => {
    const packed = byParent.get(parentId)
    return packed === undefined ? [] : unpackMemberRows(packed).rows
  }
  return { byParent, rowsOf, problems }
}
