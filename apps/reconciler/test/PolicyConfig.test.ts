import { isProtected } from "@openmeet-reconciler/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parsePolicy } from "../src/PolicyConfig.ts"

const policyOf = (yaml: string) => {
  const parsed = parsePolicy(yaml, ["t1"])
  if (Either.isLeft(parsed)) throw new Error(parsed.left)
  const policy = parsed.right.get("t1")
  if (policy === undefined) throw new Error("no policy for t1")
  return policy
}
const context = (yaml: string) => ({
  policy: policyOf(yaml),
  serverName: "example.org",
  botUserId: "@bot:example.org",
  kind: "event" as const,
})

describe("protectedUsers (RECONCILER_POLICY)", () => {
  it("matches whole user ids only", () => {
    const ctx = context(`defaults:\n  protectedUsers: ["@admin:.*"]\n`)
    expect(isProtected(ctx, "@admin:example.org")).toBe(true)
    expect(isProtected(ctx, "@notadmin:example.org")).toBe(false)
    expect(isProtected(ctx, "@admin2:example.org")).toBe(false)
  })

  it("runs in linear time: a user-chosen id cannot stall it with a pattern that backtracks", () => {
    // With a backtracking engine this check would not finish in the test's lifetime.
    const ctx = context(`defaults:\n  protectedUsers: ["@(a+)+b:.*"]\n`)
    expect(isProtected(ctx, `@${"a".repeat(100_000)}c:example.org`)).toBe(false)
    expect(isProtected(ctx, "@aaab:example.org")).toBe(true)
  })

  it("refuses a pattern RE2 cannot run (lookaround, backreferences), naming it", () => {
    const parsed = parsePolicy(`tenants:\n  t1:\n    protectedUsers: ["@(?!x).*"]\n`, ["t1"])
    expect(Either.isLeft(parsed) && parsed.left).toMatch(
      /^RECONCILER_POLICY: tenants\.t1\.protectedUsers: "@\(\?!x\)\.\*" is not a valid regular expression for RE2/,
    )
  })
})
