import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { aliasTenant, formatRoomKey, parseAlias, parseRoomKey, roomAlias, roomKey } from "../src/index.ts"

describe("the tenant '' (OpenMeet's public schema): keys and aliases as OpenMeet makes them", () => {
  it("its keys are event::<id> and group::<id>, and they parse back", () => {
    expect(formatRoomKey(roomKey("", "event", "42"))).toBe("event::42")
    expect(parseRoomKey("event::42")).toEqual(Either.right(roomKey("", "event", "42")))
    expect(parseRoomKey("group::7")).toEqual(Either.right(roomKey("", "group", "7")))
  })

  it("its aliases are #event-<slug>-:<server> (OpenMeet joins slug and tenant with '-'), and they parse back", () => {
    const alias = roomAlias("event", "summer-picnic", "", "example.org")
    expect(alias).toBe("#event-summer-picnic-:example.org")
    expect(parseAlias(alias, "example.org")).toEqual({ kind: "event", slug: "summer-picnic", tenant: "" })
    expect(aliasTenant(alias, "example.org")).toBe("")
  })

  it("another tenant's alias is never taken for the tenant ''", () => {
    expect(aliasTenant("#event-summer-picnic-t1:example.org", "example.org")).toBe("t1")
    expect(parseAlias("#group-hikers-t1:example.org", "example.org")).toEqual({
      kind: "group",
      slug: "hikers",
      tenant: "t1",
    })
  })
})

describe("room keys", () => {
  it("parses event and group keys up to the largest serial id", () => {
    expect(parseRoomKey("event:t1:42")).toEqual(Either.right(roomKey("t1", "event", "42")))
    expect(parseRoomKey("group:t1:2147483647")).toEqual(Either.right(roomKey("t1", "group", "2147483647")))
  })

  it("refuses ids no OpenMeet row can have: a key that would fail the query of every key batched with it", () => {
    for (const id of ["2147483648", "9999999999", "99999999999", "999999999999999999"]) {
      expect(parseRoomKey(`event:t1:${id}`)).toEqual(
        Either.left(`"event:t1:${id}": the id is larger than any OpenMeet id can be (2147483647)`),
      )
    }
    expect(Either.isLeft(parseRoomKey("orphan:t1:!room:server"))).toBe(true)
  })
})
