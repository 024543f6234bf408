import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { aliasProblem, aliasTenant, formatRoomKey, parseAlias, parseRoomKey, roomAlias, roomKey } from "../src/index.ts"

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

describe("keys and aliases: what mutation testing found unpinned (docs/reliability.md)", () => {
  it("a key is the whole text: nothing before or after it, and it says what it expected", () => {
    for (const text of ["event:t1:42x", "xevent:t1:42"]) {
      expect(parseRoomKey(text)).toEqual(
        Either.left(`"${text}" is not a room key; expected event:<tenant>:<id> or group:<tenant>:<id>`),
      )
    }
  })

  it("an id of more than ten digits is no serial id, even padded with zeros", () => {
    expect(parseRoomKey("event:t1:0000000042")).toEqual(Either.right(roomKey("t1", "event", "0000000042")))
    expect(Either.isLeft(parseRoomKey("event:t1:00000000042"))).toBe(true)
  })

  /** Texts that are not an alias of our namespace on example.org, though they contain one. */
  const notOurs = [
    "#event-party-t1:elsewhere.org",
    "#room:example.org",
    "#x#event-party-t1:example.org",
    "#event-party-t1:example.org\n#x:elsewhere.org",
  ]

  it("an alias is ours only as a whole, on our server", () => {
    for (const alias of notOurs) {
      expect(aliasTenant(alias, "example.org")).toBeUndefined()
      expect(parseAlias(alias, "example.org")).toBeUndefined()
    }
  })

  it("names what stops a slug from becoming an alias: a ':' in the local part, more than 255 characters", () => {
    expect(aliasProblem("#event-a:b-t1:example.org")).toBe(
      "alias \"#event-a:b-t1:example.org\" contains ':' in its local part",
    )
    const sized = (length: number) => `#${"a".repeat(length - ":example.org".length - 1)}:example.org`
    expect(aliasProblem(sized(255))).toBeUndefined()
    expect(aliasProblem(sized(256))).toBe(`alias "${sized(256)}" is longer than 255 characters`)
  })
})
