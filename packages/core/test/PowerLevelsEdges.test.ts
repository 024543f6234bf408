/**
 * Power levels where the other tests' rooms never go, found by mutation testing (hand-made
 * mutants of `planPowerLevels` survived every other test): a `users_default` that is not 0,
 * and creators of a version-12 room that are also listed in `users`.
 */
import { describe, expect, it } from "vitest"
import { planPowerLevels } from "../src/index.ts"
import { actualRoom, bot, context, defaultPowerLevels, desiredRoom, u } from "./fixtures.ts"

/** A room whose `users_default` is 10; `users` as given (the bot at 100). */
const roomWithDefault = (users: Readonly<Record<string, unknown>>) =>
  actualRoom([], {}, { powerLevels: { ...defaultPowerLevels({}), users_default: 10, users: { [bot]: 100, ...users } } })

describe("a room whose users_default is 10", () => {
  it("a stranger listed at 50 goes back to the default by losing the entry, not by an entry of 10", () => {
    const outcome = planPowerLevels(roomWithDefault({ [u("stranger")]: 50 }), desiredRoom([]), context())
    expect(outcome.changes).toEqual({ [u("stranger")]: { from: 50, to: 10 } })
    expect(outcome.content.users).toEqual({ [bot]: 100 })
  })

  it("an entitled member not listed starts from the default, and one entitled to the default is not written", () => {
    const outcome = planPowerLevels(
      roomWithDefault({}),
      desiredRoom([
        [u("host"), 50],
        [u("guest"), 10],
      ]),
      context(),
    )
    expect(outcome.changes).toEqual({ [u("host")]: { from: 10, to: 50 } })
    expect(outcome.content.users).toEqual({ [bot]: 100, [u("host")]: 50 })
  })

  it("an entry without a level reads as the default: a member entitled to it is left as written", () => {
    const outcome = planPowerLevels(roomWithDefault({ [u("guest")]: null }), desiredRoom([[u("guest"), 10]]), context())
    expect(outcome.changes).toEqual({})
    expect(outcome.content.users).toEqual({ [bot]: 100, [u("guest")]: null })
  })

  it("someone the bot cannot lower is kept when OpenMeet entitles them above the default, not when at or below it", () => {
    const outcome = planPowerLevels(
      roomWithDefault({ [u("peer")]: 100, [u("low")]: 100 }),
      desiredRoom([
        [u("peer"), 50],
        [u("low"), 5],
      ]),
      context(),
    )
    expect(outcome.changes).toEqual({})
    expect(outcome.outranked).toEqual([
      { userId: u("peer"), level: 100, needs: { demoteTo: 50 }, kept: true },
      { userId: u("low"), level: 100, needs: { demoteTo: 5 }, kept: false },
    ])
  })
})

describe("a version-12 room whose co-creator is also listed in users", () => {
  const v12 = (version: string) =>
    actualRoom(
      [[u("cocreator"), "join"]],
      { [u("cocreator")]: 100 },
      { roomVersion: version, creators: [bot, u("cocreator")] },
    )

  it("the co-creator's entry is left alone: a creator's power does not come from users", () => {
    const outcome = planPowerLevels(v12("12"), desiredRoom([]), context())
    expect(outcome.changes).toEqual({})
    expect(outcome.outranked).toEqual([])
    expect(outcome.content.users).toEqual({ [bot]: 100, [u("cocreator")]: 100 })
  })

  it("in a version-11 room the same entry is an ordinary one, lowered to what OpenMeet says", () => {
    const outcome = planPowerLevels(v12("11"), desiredRoom([]), context())
    expect(outcome.outranked).toEqual([{ userId: u("cocreator"), level: 100, needs: { demoteTo: 0 }, kept: false }])
  })
})
