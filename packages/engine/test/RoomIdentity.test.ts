/**
 * policy.md §2, room identity, without Synapse (pure enough for `pnpm mutation`): the
 * record, then `"matrixRoomId"` when the bot is in that room, then the alias; upgrades
 * followed to the newest room; every disagreement a person must resolve blocks the key.
 * The homeserver is test/memoryMatrix.ts, answering the reads as Synapse does.
 */
import type { DesiredOutcome } from "@openmeet-reconciler/core"
import { formatRoomKey } from "@openmeet-reconciler/core"
import { Matrix } from "@openmeet-reconciler/matrix"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { PassState } from "../src/index.ts"
import { aliasToResolve, identifyRoom } from "../src/index.ts"
import { eventAlias, eventKey, eventOutcome } from "./eventOutcome.ts"
import type { MemoryRoom } from "./memoryMatrix.ts"
import { memoryBot, memoryMatrix } from "./memoryMatrix.ts"

const alias = eventAlias
const key = eventKey
const outcomeOf = eventOutcome
const desired = (hint: string | null = null) => outcomeOf({ matrixRoomId: hint })
/** An unknown status fails the event's desired state; its alias is still known. */
const failed = outcomeOf({ status: "archived" })

const joined = (more: Partial<MemoryRoom> = {}): MemoryRoom => ({ botJoined: true, canonicalAlias: alias, ...more })
const notJoined: MemoryRoom = { botJoined: false, canonicalAlias: alias }

interface Pass {
  /** The room the reconciler's record names. */
  readonly record?: string
  /** Aliases this pass looked up already. */
  readonly aliases?: ReadonlyMap<string, string | undefined>
  /** The joined rooms as the pass read them, when not the homeserver's now. */
  readonly joined?: ReadonlyArray<string>
}

const stateOf = (pass: Pass, joinedNow: ReadonlySet<string>): PassState => ({
  joined: pass.joined === undefined ? joinedNow : new Set(pass.joined),
  records: new Map(
    pass.record === undefined
      ? []
      : [[formatRoomKey(key), { key: formatRoomKey(key), roomId: pass.record, aliases: [] }]],
  ),
  ...(pass.aliases === undefined ? {} : { aliases: pass.aliases }),
})

/** Identifies the key's room on a homeserver holding `rooms` and the alias directory `directory`. */
const identify = (
  outcome: DesiredOutcome,
  rooms: Readonly<Record<string, MemoryRoom>>,
  directory: Readonly<Record<string, string>> = {},
  pass: Pass = {},
) => {
  const matrix = memoryMatrix(rooms, directory)
  const identified = Effect.runSync(
    Effect.gen(function* () {
      const joinedNow = yield* Effect.flatMap(Matrix, (m) => m.joinedRooms).pipe(Effect.orDie)
      return yield* identifyRoom(outcome, stateOf(pass, joinedNow))
    }).pipe(Effect.provide(matrix.layer)),
  )
  return { identified, lookups: matrix.lookups }
}

const twoRooms = (named: string, roomId: string, other: string) =>
  `two rooms for one event: ${named} names ${roomId}, the alias ${alias} names ${other}; decide which is the room and point the other at it (docs/operations.md, "Two rooms for one key")`
const adopt =
  "`reconciler adopt` can make the bot its admin and join it (Synapse's make_room_admin with a server admin's token; docs/operations.md)"

describe("a key's room, in policy.md §2's order", () => {
  it("no record, no matrixRoomId, a free alias: no room yet (one may be created), nothing claimed", () => {
    const { identified, lookups } = identify(desired(), {})
    expect(identified).toEqual({ _tag: "None", claims: [] })
    expect(lookups).toEqual([alias])
  })

  it("the reconciler's record first, when the bot is in its room: no alias looked up", () => {
    const { identified, lookups } = identify(
      desired("!hint"),
      { "!rec": joined(), "!hint": joined(), "!alias": joined() },
      { [alias]: "!alias" },
      { record: "!rec" },
    )
    expect(identified).toMatchObject({ _tag: "Found", roomId: "!rec", via: "record", predecessors: [] })
    expect(identified).toMatchObject({ aliasTarget: undefined, claims: ["!rec", "!hint"] })
    expect(lookups).toEqual([])
  })

  it('then "matrixRoomId", when the bot is in that room and not in the record\'s', () => {
    const { identified, lookups } = identify(
      desired("!hint"),
      { "!rec": notJoined, "!hint": joined() },
      { [alias]: "!hint" },
      { record: "!rec" },
    )
    expect(identified).toMatchObject({ _tag: "Found", roomId: "!hint", via: "hint", claims: ["!rec", "!hint"] })
    expect(lookups).toEqual([])
  })

  it("then the alias; every room the key points at is claimed", () => {
    const { identified, lookups } = identify(
      desired("!hint"),
      { "!rec": notJoined, "!hint": notJoined, "!alias": joined() },
      { [alias]: "!alias" },
      { record: "!rec" },
    )
    expect(identified).toMatchObject({ _tag: "Found", roomId: "!alias", via: "alias", aliasTarget: undefined })
    expect(identified.claims).toEqual(["!rec", "!hint", "!alias"])
    expect(lookups).toEqual([alias])
  })

  it("a room found by its alias is not asked about its alias again, whatever its canonical alias says", () => {
    const { identified, lookups } = identify(
      desired(),
      { "!alias": joined({ canonicalAlias: "#old:example.org" }) },
      { [alias]: "!alias" },
    )
    expect(identified).toMatchObject({ _tag: "Found", roomId: "!alias", via: "alias", claims: ["!alias"] })
    expect("aliasTarget" in identified ? identified.aliasTarget : "none").toBeUndefined()
    expect(lookups).toEqual([alias])
  })

  it("an alias this pass looked up already is not asked again, free or taken", () => {
    const taken = identify(desired(), { "!alias": joined() }, {}, { aliases: new Map([[alias, "!alias"]]) })
    expect([taken.identified._tag, taken.lookups]).toEqual(["Found", []])
    const free = identify(desired(), {}, { [alias]: "!alias" }, { aliases: new Map([[alias, undefined]]) })
    expect([free.identified, free.lookups]).toEqual([{ _tag: "None", claims: [] }, []])
    const other = identify(desired(), {}, {}, { aliases: new Map([["#other:example.org", "!x"]]) })
    expect(other.lookups).toEqual([alias])
  })

  it("a room found by its alias that the bot is not in is blocked, with the room adopt would take", () => {
    const { identified } = identify(desired(), { "!theirs": notJoined }, { [alias]: "!theirs" })
    expect(identified).toEqual({
      _tag: "Blocked",
      roomId: "!theirs",
      message: `the bot is not in room !theirs, which has the alias ${alias} (made by OpenMeet or an older bot?): ${adopt}`,
      adopt: "!theirs",
      claims: ["!theirs"],
    })
  })
})

describe("a key whose desired state failed is located, never read (policy.md §5)", () => {
  it("its alias's room is claimed and not read, even one the bot is not in", () => {
    const { identified } = identify(failed, { "!theirs": notJoined }, { [alias]: "!theirs" })
    expect(identified).toEqual({ _tag: "Unread", roomId: "!theirs", claims: ["!theirs"] })
  })

  it("with no room behind its alias, it has none", () => {
    expect(identify(failed, {}).identified).toEqual({ _tag: "Unread", roomId: undefined, claims: [] })
  })

  it("without an alias (no slug), nothing is looked up", () => {
    const { identified, lookups } = identify(outcomeOf({ slug: null }), {})
    expect([identified, lookups]).toEqual([{ _tag: "Unread", roomId: undefined, claims: [] }, []])
  })

  it("its record's room, when the bot is in it", () => {
    const { identified } = identify(failed, { "!rec": joined() }, {}, { record: "!rec" })
    expect(identified).toEqual({ _tag: "Unread", roomId: "!rec", claims: ["!rec"] })
  })
})

describe("two rooms for one key: a person decides, nothing is touched", () => {
  it("the record's room lacks the alias, which names another room: blocked, naming both", () => {
    const { identified } = identify(
      desired(),
      { "!rec": joined({ canonicalAlias: undefined }), "!alias": joined() },
      { [alias]: "!alias" },
      { record: "!rec" },
    )
    expect(identified).toEqual({
      _tag: "Blocked",
      roomId: "!rec",
      message: twoRooms("the reconciler's record", "!rec", "!alias"),
      claims: ["!rec", "!alias"],
    })
  })

  it('"matrixRoomId" names a room carrying another alias while the alias names another: blocked', () => {
    const { identified } = identify(
      desired("!hint"),
      { "!hint": joined({ canonicalAlias: "#old:example.org" }), "!alias": joined() },
      { [alias]: "!alias" },
    )
    expect(identified).toMatchObject({ _tag: "Blocked", message: twoRooms('"matrixRoomId"', "!hint", "!alias") })
  })

  it("a record's room without the alias is the room when the alias is free (the alias is to be added)", () => {
    const { identified, lookups } = identify(
      desired(),
      { "!rec": joined({ canonicalAlias: "#old:example.org" }) },
      {},
      { record: "!rec" },
    )
    expect(identified).toMatchObject({
      _tag: "Found",
      roomId: "!rec",
      via: "record",
      aliasTarget: null,
      claims: ["!rec"],
    })
    expect(lookups).toEqual([alias])
  })

  it("a record's room the alias points at, its canonical alias unset: the room, the alias its own", () => {
    const { identified } = identify(
      desired(),
      { "!rec": joined({ canonicalAlias: undefined }) },
      { [alias]: "!rec" },
      { record: "!rec" },
    )
    expect(identified).toMatchObject({ _tag: "Found", roomId: "!rec", aliasTarget: "!rec", claims: ["!rec", "!rec"] })
  })
})

describe("upgraded rooms: followed to the newest (m.room.tombstone)", () => {
  /** Rooms !c0 … !c<n> each upgraded to the next, the alias still on !c0, as an upgrade by hand leaves it. */
  const chain = (upgrades: number): Record<string, MemoryRoom> =>
    Object.fromEntries(
      Array.from({ length: upgrades + 1 }, (_, i) => [
        `!c${i}`,
        joined(i < upgrades ? { successor: `!c${i + 1}`, canonicalAlias: i === 0 ? alias : undefined } : {}),
      ]),
    )

  it("the newest room is the key's; the alias left on the first is moved, never another room", () => {
    const { identified, lookups } = identify(desired(), chain(2), { [alias]: "!c0" }, { record: "!c0" })
    expect(identified).toMatchObject({
      _tag: "Found",
      roomId: "!c2",
      via: "tombstone",
      predecessors: ["!c0", "!c1"],
      aliasTarget: "!c0",
      claims: ["!c0", "!c1", "!c2", "!c0"],
    })
    expect(lookups).toEqual([alias])
  })

  it("five upgrades in a row are followed; a sixth is a loop or vandalism: blocked", () => {
    expect(identify(desired(), chain(5), { [alias]: "!c0" }, { record: "!c0" }).identified).toMatchObject({
      _tag: "Found",
      roomId: "!c5",
    })
    expect(identify(desired(), chain(6), { [alias]: "!c0" }, { record: "!c0" }).identified).toEqual({
      _tag: "Blocked",
      roomId: "!c5",
      message: "room !c5 has been upgraded more than 5 times in a row; follow the tombstones by hand",
      claims: ["!c0", "!c1", "!c2", "!c3", "!c4", "!c5", "!c6"],
    })
  })

  it("an upgrade to a room the bot is not in: blocked, with the new room to adopt", () => {
    const { identified } = identify(
      desired(),
      { "!old": joined({ successor: "!new" }), "!new": notJoined },
      {},
      { record: "!old" },
    )
    expect(identified).toEqual({
      _tag: "Blocked",
      roomId: "!old",
      message: `room !old was upgraded to !new, and the bot is not in !new: ${adopt}`,
      adopt: "!new",
      claims: ["!old", "!new"],
    })
  })

  it("an upgrade whose alias names an unrelated room: two rooms, named by the upgrade", () => {
    const { identified } = identify(
      desired(),
      { "!old": joined({ successor: "!new" }), "!new": joined(), "!else": joined() },
      { [alias]: "!else" },
      { record: "!old" },
    )
    expect(identified).toMatchObject({
      _tag: "Blocked",
      roomId: "!new",
      message: twoRooms("an upgrade", "!new", "!else"),
    })
  })
})

describe("a read that fails claims the room and is retried later", () => {
  it("the bot was removed after the pass listed its rooms: Synapse refuses the state, the key is unreadable", () => {
    const { identified } = identify(desired(), { "!rec": notJoined }, {}, { record: "!rec", joined: ["!rec"] })
    expect(identified).toEqual({
      _tag: "Unreadable",
      roomId: "!rec",
      message: `reading Matrix failed: GET /rooms/{roomId}/state: M_FORBIDDEN User ${memoryBot} not in room !rec`,
      claims: ["!rec"],
    })
  })
})

describe("aliasToResolve: only keys whose record and matrixRoomId name no room of the bot look up an alias", () => {
  const state = (record: string | undefined, joinedRooms: ReadonlyArray<string>) =>
    stateOf({ ...(record === undefined ? {} : { record }), joined: joinedRooms }, new Set())
  it("a record's room the bot is in: nothing to look up", () => {
    expect(aliasToResolve(desired("!hint"), state("!rec", ["!rec"]))).toBeUndefined()
  })
  it("a matrixRoomId the bot is in: nothing to look up", () => {
    expect(aliasToResolve(desired("!hint"), state("!rec", ["!hint"]))).toBeUndefined()
  })
  it("neither: the alias", () => {
    expect(aliasToResolve(desired("!hint"), state("!rec", []))).toBe(alias)
    expect(aliasToResolve(desired(), state(undefined, ["!x"]))).toBe(alias)
  })
})
