import { isProtected } from "@openmeet-reconciler/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parsePolicy, withAppserviceUsers } from "../src/PolicyConfig.ts"

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

describe("the appservice's own users (APPSERVICE_REGISTRATION's exclusive user namespaces)", () => {
  it("are protected like the bot: OpenMeet's older per-tenant bots are never kicked or demoted", () => {
    const policies = withAppserviceUsers(
      Either.getOrThrow(parsePolicy(`defaults:\n  protectedUsers: ["@admin:.*"]\n`, ["t1"])),
      ["@openmeet-bot-"],
    )
    const policy = Either.getOrThrow(policies).get("t1")
    if (policy === undefined) throw new Error("no policy for t1")
    const ctx = { policy, serverName: "example.org", botUserId: "@openmeet-bot:example.org", kind: "event" as const }
    // A namespace regex matches from the start of the id, as Synapse reads it.
    expect(isProtected(ctx, "@openmeet-bot-t1:example.org")).toBe(true)
    expect(isProtected(ctx, "@admin:example.org")).toBe(true)
    expect(isProtected(ctx, "@ann:example.org")).toBe(false)
    expect(isProtected(ctx, "@x-openmeet-bot-t1:example.org")).toBe(false)
  })

  it("an exclusive namespace claiming every user is refused: it would protect every member", () => {
    const base = Either.getOrThrow(parsePolicy(undefined, ["t1"]))
    const refused = withAppserviceUsers(base, ["@openmeet-bot-.*", "@.*:example.org"], ["other.org", "example.org"])
    expect(Either.getLeft(refused)).toEqual(
      expect.objectContaining({ value: expect.stringContaining('"@.*:example.org" claims every user of example.org') }),
    )
    // OpenMeet's own namespace (its older per-tenant bots) claims nobody else.
    expect(Either.isRight(withAppserviceUsers(base, ["@openmeet-bot-.*"], ["example.org"]))).toBe(true)
  })

  it("a namespace RE2 cannot run is refused at start, naming the registration", () => {
    const refused = withAppserviceUsers(new Map(), ["@(?=x).*"])
    expect(Either.getLeft(refused)).toEqual(expect.objectContaining({ _tag: "Some" }))
    expect(Either.isLeft(refused) ? refused.left : "").toContain("APPSERVICE_REGISTRATION namespaces.users")
  })
})
