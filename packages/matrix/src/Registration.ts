import { readFile } from "node:fs/promises"
import { describeWithoutValues, parsePosition } from "@openmeet-reconciler/core"
import { Data, Effect, Either, Redacted, Schema } from "effect"
import { parse, stringify } from "yaml"

const Namespace = Schema.Struct({ exclusive: Schema.optional(Schema.Boolean), regex: Schema.String })

const RegistrationYaml = Schema.Struct({
  id: Schema.String,
  url: Schema.NullOr(Schema.String),
  as_token: Schema.String,
  hs_token: Schema.String,
  sender_localpart: Schema.String,
  rate_limited: Schema.optional(Schema.Boolean),
  namespaces: Schema.optional(
    Schema.Struct({
      users: Schema.optional(Schema.Array(Namespace)),
      aliases: Schema.optional(Schema.Array(Namespace)),
      rooms: Schema.optional(Schema.Array(Namespace)),
    }),
  ),
})

/** The appservice registration the homeserver knows the reconciler by; tokens stay redacted. */
export interface Registration {
  readonly id: string
  readonly url: string | null
  readonly asToken: Redacted.Redacted<string>
  readonly hsToken: Redacted.Redacted<string>
  readonly senderLocalpart: string
  /**
   * The regexes of the registration's exclusive user namespaces: users only the appservice
   * can create (OpenMeet's `@openmeet-bot-.*`, its older per-tenant bot identities).
   */
  readonly exclusiveUsers: ReadonlyArray<string>
}

export class RegistrationError extends Data.TaggedError("RegistrationError")<{ readonly message: string }> {}

/** Decodes a registration YAML document; `source` names it in errors. */
export const parseRegistration = (text: string, source: string): Either.Either<Registration, RegistrationError> => {
  let raw: unknown
  try {
    // No YAML warnings on stderr: they quote the line, which may hold a token.
    raw = parse(text, { logLevel: "error" })
  } catch (error) {
    return Either.left(new RegistrationError({ message: `${source}: not valid YAML ${parsePosition(error)}` }))
  }
  return Schema.decodeUnknownEither(RegistrationYaml)(raw, { errors: "all" }).pipe(
    Either.mapBoth({
      onLeft: (error) =>
        new RegistrationError({
          message: `${source}: not an appservice registration:\n${describeWithoutValues(error)}`,
        }),
      onRight: (r) => ({
        id: r.id,
        url: r.url,
        asToken: Redacted.make(r.as_token),
        hsToken: Redacted.make(r.hs_token),
        senderLocalpart: r.sender_localpart,
        exclusiveUsers: (r.namespaces?.users ?? []).filter((n) => n.exclusive === true).map((n) => n.regex),
      }),
    }),
  )
}

/** Reads and decodes the registration file at `path`. */
export const loadRegistration = (path: string): Effect.Effect<Registration, RegistrationError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) =>
      new RegistrationError({ message: `APPSERVICE_REGISTRATION ${path}: cannot read (${String(error)})` }),
  }).pipe(Effect.flatMap((text) => parseRegistration(text, `APPSERVICE_REGISTRATION ${path}`)))

/** What a registration for the reconciler says; `renderRegistration` writes it as YAML. */
export interface RegistrationSpec {
  readonly id: string
  readonly url: string
  readonly asToken: string
  readonly hsToken: string
  readonly senderLocalpart: string
  /** The server names of the tenants on this homeserver, with their tenant ids and whether they join users. */
  readonly tenants: ReadonlyArray<{ readonly id: string; readonly serverName: string; readonly joinMode: boolean }>
  /**
   * `minimal`: no more than the reconciler needs. `openmeet`: OpenMeet's own namespaces, so
   * the file can replace OpenMeet's registration while OpenMeet's API keeps using its token
   * (its users, its older bots `@<sender_localpart>-…`, every alias it makes, every room).
   */
  readonly namespaces?: "minimal" | "openmeet"
}

/** The namespaces of OpenMeet's registration (its appservice template). */
const openMeetNamespaces = (senderLocalpart: string) => ({
  users: [
    { exclusive: true, regex: `@${escapeRegex(senderLocalpart)}-.*` },
    { exclusive: false, regex: "@.*" },
  ],
  aliases: [{ exclusive: true, regex: "#(event|group)-.*" }],
  rooms: [{ exclusive: false, regex: ".*" }],
})

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** No more than the reconciler needs (see renderRegistration). */
const minimalNamespaces = (spec: RegistrationSpec) => ({
  users: [...new Set(spec.tenants.filter((t) => t.joinMode).map((t) => t.serverName))].map((server) => ({
    exclusive: false,
    regex: `@.*:${escapeRegex(server)}`,
  })),
  aliases: spec.tenants.map((t) => ({
    exclusive: true,
    regex: `#(event|group)-.*-${escapeRegex(t.id)}:${escapeRegex(t.serverName)}`,
  })),
  rooms: [],
})

/**
 * The registration YAML the homeserver needs, claiming no more than that: the aliases of
 * each tenant's rooms as an exclusive namespace (only the reconciler may create them, and
 * the homeserver asks it about unknown ones); local users, non-exclusively, only on the
 * servers of tenants in `membershipMode: join` (the bot joins users there as them). The
 * bot hears of every room it is in without a users namespace. No rate limit. With
 * `namespaces: "openmeet"`, OpenMeet's own namespaces instead.
 */
export const renderRegistration = (spec: RegistrationSpec): string =>
  stringify({
    id: spec.id,
    url: spec.url,
    as_token: spec.asToken,
    hs_token: spec.hsToken,
    sender_localpart: spec.senderLocalpart,
    rate_limited: false,
    namespaces: spec.namespaces === "openmeet" ? openMeetNamespaces(spec.senderLocalpart) : minimalNamespaces(spec),
  })
