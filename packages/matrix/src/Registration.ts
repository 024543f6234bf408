import { readFile } from "node:fs/promises"
import { describeWithoutValues, parsePosition } from "@openmeet-reconciler/core"
import { Data, Effect, Either, Redacted, Schema } from "effect"
import { parse } from "yaml"

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
}

export class RegistrationError extends Data.TaggedError("RegistrationError")<{ readonly message: string }> {}

/** Decodes a registration YAML document; `source` names it in errors. */
export const parseRegistration = (text: string, source: string): Either.Either<Registration, RegistrationError> => {
  let raw: unknown
  try {
    raw = parse(text)
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
