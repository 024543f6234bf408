import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parsePolicy } from "../src/PolicyConfig.ts"

const policies = (text: string, tenants: ReadonlyArray<string>) => {
  const result = parsePolicy(text, tenants)
  if (Either.isLeft(result)) throw new Error(result.left)
  return result.right
}

describe("RECONCILER_POLICY: the decisions an OpenMeet operator can change", () => {
  it("publicRoomVisitors is keep by default and can be remove, per tenant", () => {
    const parsed = policies("tenants:\n  b: {publicRoomVisitors: remove}\n", ["a", "b"])
    expect([parsed.get("a")?.publicRoomVisitors, parsed.get("b")?.publicRoomVisitors]).toEqual(["keep", "remove"])
  })

  it("publicRoomVisitors accepts only keep or remove, naming the place", () => {
    const result = parsePolicy("defaults:\n  publicRoomVisitors: ban\n", ["a"])
    expect(Either.isLeft(result) ? result.left : "").toContain("publicRoomVisitors")
    expect(Either.isLeft(result) ? result.left : "").toContain('"ban"')
  })

  it("maybe can be made an entitling status", () => {
    const parsed = policies("defaults:\n  eventEntitledStatuses: [confirmed, maybe]\n", ["a"])
    expect([...(parsed.get("a")?.eventEntitledStatuses ?? [])]).toEqual(["confirmed", "maybe"])
  })

  it("the tenant '' (OpenMeet's public schema) takes overrides under the key \"\"", () => {
    const parsed = policies('tenants:\n  "": {publicRoomVisitors: remove}\n', ["", "a"])
    expect([parsed.get("")?.publicRoomVisitors, parsed.get("a")?.publicRoomVisitors]).toEqual(["remove", "keep"])
  })
})
