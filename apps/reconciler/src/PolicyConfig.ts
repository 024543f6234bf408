import type { Policy, UserPattern } from "@openmeet-reconciler/core"
import { attendeeStatuses, defaultPolicy } from "@openmeet-reconciler/core"
import { Either, ParseResult, Schema } from "effect"
import { RE2JS } from "re2js"
import { parse } from "yaml"

const Level = Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100)), { exact: true })

const EventLevels = Schema.Struct({
  host: Level,
  moderator: Level,
  speaker: Level,
  participant: Level,
  guest: Level,
  owner: Level,
})

const GroupLevels = Schema.Struct({ owner: Level, admin: Level, moderator: Level, member: Level, guest: Level })

/** Per-tenant overrides of policy.md's defaults; every field optional. */
const Overrides = Schema.Struct({
  eventEntitledStatuses: Schema.optional(Schema.Array(Schema.Literal(...attendeeStatuses))),
  eventLevels: Schema.optional(EventLevels),
  groupLevels: Schema.optional(GroupLevels),
  joinRule: Schema.optional(Schema.Literal("byVisibility", "public")),
  membershipMode: Schema.optional(Schema.Literal("invite", "join")),
  respectLeave: Schema.optional(Schema.Boolean),
  respectKicks: Schema.optional(Schema.Boolean),
  protectedUsers: Schema.optional(Schema.Array(Schema.String)),
  maxDestructivePerPass: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))),
  maxDestructivePerRoom: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))),
  maxDestructiveRoomFraction: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  orphanPolicy: Schema.optional(Schema.Literal("report", "archive", "evict")),
  publicRoomVisitors: Schema.optional(Schema.Literal("keep", "remove")),
})
type Overrides = typeof Overrides.Type

const PolicyDocument = Schema.Struct({
  defaults: Schema.optional(Overrides),
  tenants: Schema.optional(Schema.Record({ key: Schema.String, value: Overrides })),
})

/**
 * Compiles protectedUsers with RE2's linear-time engine: the patterns run against user ids
 * that anyone on the server can choose, and a backtracking engine would let one crafted id
 * stall the reconciler (`(a+)+b` against a long run of `a`s). Anchored: "@admin:.*" must
 * not match "@notadmin:...". RE2 has no backreferences or lookaround; such a pattern is
 * refused at start.
 */
const compile = (patterns: ReadonlyArray<string>, where: string): Either.Either<ReadonlyArray<UserPattern>, string> => {
  const out: Array<UserPattern> = []
  for (const pattern of patterns) {
    try {
      const re = RE2JS.compile(pattern)
      out.push({ source: pattern, test: (userId) => re.matches(userId) })
    } catch (error) {
      return Either.left(
        `${where}.protectedUsers: ${JSON.stringify(pattern)} is not a valid regular expression for RE2 (${error instanceof Error ? error.message : String(error)})`,
      )
    }
  }
  return Either.right(out)
}

/**
 * Users of the appservice's exclusive user namespaces (OpenMeet's older per-tenant bots,
 * `@openmeet-bot-.*`) belong to the appservice, not to OpenMeet's members: protected like
 * the bot. A namespace regex matches from the start of the id, as Synapse reads it.
 */
export const withAppserviceUsers = (
  policies: ReadonlyMap<string, Policy>,
  namespaces: ReadonlyArray<string>,
  serverNames: ReadonlyArray<string> = [],
): Either.Either<ReadonlyMap<string, Policy>, string> =>
  Either.map(
    Either.flatMap(
      compile(
        namespaces.map((regex) => `(?:${regex}).*`),
        "APPSERVICE_REGISTRATION namespaces.users",
      ),
      (patterns) => refuseClaimsOnEveryone(patterns, namespaces, serverNames),
    ),
    (patterns) =>
      new Map(
        [...policies].map(([id, policy]) => [
          id,
          { ...policy, protectedUsers: [...policy.protectedUsers, ...patterns] },
        ]),
      ),
  )

/**
 * An exclusive namespace that claims ordinary users (`@.*`) would protect every member:
 * the reconciler would quietly never remove or demote anyone. Refused, naming the regex;
 * an ordinary local id stands for "any user".
 */
const refuseClaimsOnEveryone = (
  patterns: ReadonlyArray<UserPattern>,
  namespaces: ReadonlyArray<string>,
  serverNames: ReadonlyArray<string>,
): Either.Either<ReadonlyArray<UserPattern>, string> => {
  for (const [i, pattern] of patterns.entries()) {
    const claimed = serverNames.find((server) => pattern.test(`@alice:${server}`))
    if (claimed !== undefined)
      return Either.left(
        `APPSERVICE_REGISTRATION namespaces.users: the exclusive regex ${JSON.stringify(namespaces[i])} claims every user of ${claimed}; the appservice's users are protected like the bot, so the reconciler would manage nobody. Make that namespace non-exclusive (exclusive: false) or narrow it to the appservice's own users`,
      )
  }
  return Either.right(patterns)
}

const applyOverrides = (base: Policy, o: Overrides, where: string): Either.Either<Policy, string> =>
  Either.map(compile(o.protectedUsers ?? [], where), (protectedUsers) => ({
    eventEntitledStatuses: o.eventEntitledStatuses ? new Set(o.eventEntitledStatuses) : base.eventEntitledStatuses,
    eventLevels: { ...base.eventLevels, ...o.eventLevels },
    groupLevels: { ...base.groupLevels, ...o.groupLevels },
    joinRule: o.joinRule ?? base.joinRule,
    membershipMode: o.membershipMode ?? base.membershipMode,
    respectLeave: o.respectLeave ?? base.respectLeave,
    respectKicks: o.respectKicks ?? base.respectKicks,
    protectedUsers: [...base.protectedUsers, ...protectedUsers],
    orphanPolicy: o.orphanPolicy ?? base.orphanPolicy,
    publicRoomVisitors: o.publicRoomVisitors ?? base.publicRoomVisitors,
    limits: {
      maxDestructivePerPass: o.maxDestructivePerPass ?? base.limits.maxDestructivePerPass,
      maxDestructivePerRoom: o.maxDestructivePerRoom ?? base.limits.maxDestructivePerRoom,
      maxDestructiveRoomFraction: o.maxDestructiveRoomFraction ?? base.limits.maxDestructiveRoomFraction,
    },
  }))

/**
 * Decodes RECONCILER_POLICY (YAML: `defaults:` and `tenants: {<id>: ...}`) into one
 * policy per tenant; unknown keys, tenants and values are errors that name the place.
 */
export const parsePolicy = (
  text: string | undefined,
  tenantIds: ReadonlyArray<string>,
): Either.Either<ReadonlyMap<string, Policy>, string> => {
  let raw: unknown = {}
  if (text !== undefined && text.trim() !== "") {
    try {
      raw = parse(text, { logLevel: "error" }) ?? {}
    } catch (error) {
      return Either.left(`RECONCILER_POLICY: not valid YAML (${String(error)})`)
    }
  }
  const decoded = Schema.decodeUnknownEither(PolicyDocument)(raw, { onExcessProperty: "error", errors: "all" })
  if (Either.isLeft(decoded)) {
    // One line per problem, naming its place (the policy holds no secret: values may show).
    // Every field is optional: "Expected undefined" is the other side of each, not a problem.
    const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).filter(
      (i) => !i.message.startsWith("Expected undefined"),
    )
    const lines = issues.map((i) => `  ${i.path.length === 0 ? "(top)" : i.path.map(String).join(".")}: ${i.message}`)
    return Either.left(`RECONCILER_POLICY:\n${lines.join("\n")}`)
  }
  const doc = decoded.right
  for (const id of Object.keys(doc.tenants ?? {})) {
    if (!tenantIds.includes(id)) return Either.left(`RECONCILER_POLICY: tenants.${id}: no such tenant is configured`)
  }
  const defaults = applyOverrides(defaultPolicy, doc.defaults ?? {}, "RECONCILER_POLICY: defaults")
  if (Either.isLeft(defaults)) return Either.left(defaults.left)
  const policies = new Map<string, Policy>()
  for (const id of tenantIds) {
    const policy = applyOverrides(defaults.right, doc.tenants?.[id] ?? {}, `RECONCILER_POLICY: tenants.${id}`)
    if (Either.isLeft(policy)) return Either.left(policy.left)
    policies.set(id, policy.right)
  }
  return Either.right(policies)
}
