import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Schema } from "effect"
import {
  decodeMemberGroups,
  EventRow,
  GroupRow,
  isEventRow,
  isGroupRow,
  isMemberGroup,
  isUserRow,
  MemberGroup,
  MemberTuple,
  UserRow,
  unpackMemberRows,
} from "../src/DesiredRows.ts"

/** Values of every kind a driver could hand over, and some it would not. */
const anyValue = fc.oneof(
  fc.string(),
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 2 }),
)

/** Objects with some or all of `keys` (mostly of the right type) and maybe others; and non-objects. */
const rowsLike = (keys: ReadonlyArray<string>) =>
  fc.oneof(
    fc.record(Object.fromEntries(keys.map((key) => [key, fc.oneof(fc.string(), fc.constant(null), anyValue)]))),
    fc.record(Object.fromEntries(keys.map((key) => [key, anyValue])), { requiredKeys: [] }),
    fc.dictionary(fc.string(), anyValue),
    anyValue,
    fc.array(fc.oneof(fc.string(), fc.constant(null), anyValue), { minLength: 4, maxLength: 6 }),
  )

const agrees = <A, I>(
  name: string,
  schema: Schema.Schema<A, I> & { readonly fields: object },
  guard: (row: unknown) => row is A,
) =>
  it(`accept exactly what the Schema accepts: ${name}`, () => {
    const isValid = Schema.is(schema)
    fc.assert(
      fc.property(rowsLike(Object.keys(schema.fields)), (row) => guard(row) === isValid(row)),
      {
        numRuns: 3000,
      },
    )
  })

describe("the guards of the desired-state rows", () => {
  agrees("events", EventRow, isEventRow)
  agrees("groups", GroupRow, isGroupRow)
  agrees("users", UserRow, isUserRow)
  agrees("packed member groups", MemberGroup, isMemberGroup)
})

describe("packed member rows", () => {
  /** The reading this one-pass reader must equal: split, check each row with the Schema, order by id. */
  const reference = (packed: string) => {
    const all =
      packed === ""
        ? []
        : packed.split("\u001e").map((row) => row.split("\u001f").map((f) => (f === "" ? null : f.slice(1))))
    const isTuple = Schema.is(MemberTuple)
    return {
      rows: all
        .filter(isTuple)
        .map(([id, userId, status, role, roleId]) => ({ id, userId, status, role, roleId }))
        .sort((x, y) => Number(x.id) - Number(y.id)),
      refused: all.filter((row) => !isTuple(row)),
    }
  }

  it("read an empty field as NULL and `=` alone as the empty text, in the order of their ids", () => {
    expect(unpackMemberRows("=10\u001f=7\u001f=confirmed\u001f\u001f=999\u001e=9\u001f=8\u001f\u001f=\u001f")).toEqual({
      rows: [
        { id: "9", userId: "8", status: null, role: "", roleId: null },
        { id: "10", userId: "7", status: "confirmed", role: null, roleId: "999" },
      ],
      refused: [],
    })
    expect(unpackMemberRows("")).toEqual({ rows: [], refused: [] })
  })

  it("read exactly what splitting each row and checking it with the Schema reads, on arbitrary texts", () => {
    // Fields of digits, separators, `=` and NULLs, in rows of three to seven fields.
    const field = fc.oneof(
      fc.constant(""),
      fc.constant("="),
      fc.stringMatching(/^=[0-9]{1,4}$/),
      // Text with stray separators and `=` in it.
      fc.array(fc.constantFrom("a", "b", "=", "\u001e", "\u001f"), { maxLength: 4 }).map((chars) => chars.join("")),
    )
    const row = fc.array(field, { minLength: 3, maxLength: 7 }).map((fields) => fields.join("\u001f"))
    const packed = fc.array(row, { maxLength: 6 }).map((rows) => rows.join("\u001e"))
    fc.assert(
      fc.property(packed, (text) => {
        expect(unpackMemberRows(text)).toEqual(reference(text))
        // Only checking: the same rows refused, none made.
        expect(unpackMemberRows(text, false)).toEqual({ rows: [], refused: reference(text).refused })
      }),
      { numRuns: 5000 },
    )
  })

  it("refuse a row whose value holds a separator, naming the table and why, and keep the others", () => {
    const decoded = decodeMemberGroups(
      [
        {
          parentId: "4",
          rows: "=1\u001f=7\u001f=confirmed\u001f=v\u001fip\u001f\u001e=2\u001f=8\u001f=confirmed\u001f=host\u001f",
        },
      ],
      "t",
      "eventAttendees",
    )
    expect(decoded.rowsOf("4")).toEqual([{ id: "2", userId: "8", status: "confirmed", role: "host", roleId: null }])
    expect(decoded.problems).toHaveLength(1)
    expect(decoded.problems[0]).toMatchObject({ tenant: "t", table: "eventAttendees", id: "1" })
    expect(decoded.problems[0]?.message).toMatch(/^a value holds U\+001E or U\+001F/)
  })

  it("check the rows of no event or group too, but give them to no room", () => {
    const decoded = decodeMemberGroups(
      [{ parentId: null, rows: "=1\u001f=7\u001f\u001f=owner\u001f" }],
      "t",
      "groupMembers",
    )
    expect(decoded.byParent.size).toBe(0)
    expect(decoded.problems).toEqual([])
  })
})
