/** Policy's defaults and who is protected, as mutation testing found them unpinned (docs/reliability.md). */
import { describe, expect, it } from "vitest"
import { defaultPolicy, isProtected, isValidLocalpart } from "../src/index.ts"
import { context, u } from "./fixtures.ts"

describe("the default policy is policy.md's", () => {
  it("join rule by visibility, invites, leaves and kicks respected, orphans reported, visitors kept", () => {
    expect(defaultPolicy).toMatchObject({
      eventEntitledStatuses: new Set(["confirmed", "attended", "cancelled"]),
      joinRule: "byVisibility",
      membershipMode: "invite",
      respectLeave: true,
      respectKicks: true,
      orphanPolicy: "report",
      publicRoomVisitors: "keep",
      limits: { maxDestructivePerPass: 100, maxDestructivePerRoom: 5, maxDestructiveRoomFraction: 0.2 },
    })
  })
})

describe("users of other servers are protected", () => {
  it("also one whose server name ends with ours, or is as long as ours", () => {
    // example.org is ours: `notexample.org` ends with it, `example.net` has its ':' where ours would be.
    for (const userId of ["@bob:notexample.org", "@bob:example.net", "@bob:elsewhere.org"]) {
      expect(isProtected(context(), userId)).toBe(true)
    }
    expect(isProtected(context(), u("bob"))).toBe(false)
  })
})

describe("Matrix localparts", () => {
  it("are valid only if every character is one the spec allows", () => {
    expect(isValidLocalpart("ann.o_b=c-d/e+f9")).toBe(true)
    for (const handle of ["ann smith", "ann!", "Ann", "", "ann:x"]) expect(isValidLocalpart(handle)).toBe(false)
  })
})
