import { Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { parseTenants } from "../src/index.ts"

describe("OpenMeet's tenant list", () => {
  it("reads a tenant's own homeserver and appservice registration (id, token, hsToken) and ignores other fields", () => {
    const json = JSON.stringify([
      { id: "t1", name: "One", matrixConfig: { serverName: "a.example" }, other: { anything: 1 } },
      {
        id: "t2",
        matrixConfig: {
          serverName: "b.example",
          homeserverUrl: "https://matrix.b.example",
          botUser: { slug: "openmeet-bot-t2", password: "not read" },
          appservice: { id: "openmeet-bot", token: "as-t2", hsToken: "hs-t2", url: "ignored" },
        },
      },
      { id: "t3", name: "No Matrix" },
    ])
    const tenants = Either.getOrThrow(parseTenants(json, "TENANTS_FILE"))
    expect(tenants.map((t) => t.id)).toEqual(["t1", "t2"])
    const [one, two] = tenants
    expect(one).toEqual({ id: "t1", name: "One", schema: "tenant_t1", serverName: "a.example" })
    expect(two).toMatchObject({
      id: "t2",
      serverName: "b.example",
      homeserverUrl: "https://matrix.b.example",
      appserviceId: "openmeet-bot",
    })
    expect(two?.asToken === undefined ? undefined : Redacted.value(two.asToken)).toBe("as-t2")
    expect(two?.hsToken === undefined ? undefined : Redacted.value(two.hsToken)).toBe("hs-t2")
    // Tokens stay redacted wherever the tenant is printed.
    expect(JSON.stringify(two)).not.toContain("hs-t2")
  })

  it("names the tenant and field of a wrong appservice entry", () => {
    const json = JSON.stringify([{ id: "t1", matrixConfig: { serverName: "a", appservice: { hsToken: 5 } } }])
    const error = Either.getLeft(parseTenants(json, "TENANTS_B64"))
    expect(error._tag === "Some" ? error.value.message : "").toMatch(/TENANTS_B64: not a list of OpenMeet tenants/)
    expect(error._tag === "Some" ? error.value.message : "").toMatch(/hsToken/)
  })
})
