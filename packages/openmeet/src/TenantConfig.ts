import { describeWithoutValues, parsePosition } from "@openmeet-reconciler/core"
import { Data, Either, Redacted, Schema } from "effect"

/** The part of one OpenMeet tenant config the reconciler uses; other fields are ignored. */
const TenantJson = Schema.Struct({
  id: Schema.String,
  name: Schema.optional(Schema.String),
  matrixConfig: Schema.optional(
    Schema.Struct({
      serverName: Schema.String,
      homeserverUrl: Schema.optional(Schema.String),
      appservice: Schema.optional(
        Schema.Struct({
          id: Schema.optional(Schema.String),
          token: Schema.optional(Schema.String),
          hsToken: Schema.optional(Schema.String),
        }),
      ),
    }),
  ),
})

const TenantsJson = Schema.Array(TenantJson)

/** A tenant the reconciler manages: its Postgres schema and its Matrix server name. */
export interface Tenant {
  readonly id: string
  readonly name: string
  readonly schema: string
  readonly serverName: string
  /** The tenant's own homeserver and appservice token, when it has them (else the global ones). */
  readonly homeserverUrl?: string
  readonly asToken?: Redacted.Redacted<string>
  /** The id and hs_token of the appservice registration on the tenant's own homeserver (`matrixConfig.appservice`). */
  readonly appserviceId?: string
  readonly hsToken?: Redacted.Redacted<string>
}

export class TenantConfigError extends Data.TaggedError("TenantConfigError")<{ readonly message: string }> {}

/** The Matrix spec's server name: a DNS name, an IPv4 address or an [IPv6] one, and an optional port. */
const serverNamePattern = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::[0-9]{1,5})?$/

/**
 * What is wrong with a tenant's Matrix settings, if anything: a server name that cannot be
 * one would only fail later, in every alias and request of the tenant. The URL is not
 * shown (it may carry credentials).
 */
const matrixConfigProblem = (config: {
  readonly serverName: string
  readonly homeserverUrl?: string | undefined
}): string | undefined => {
  if (!serverNamePattern.test(config.serverName)) {
    return `serverName ${JSON.stringify(config.serverName.slice(0, 100))} is not a Matrix server name (host or host:port)`
  }
  if (config.homeserverUrl !== undefined && !URL.canParse(config.homeserverUrl)) return "homeserverUrl is not a URL"
  if (config.homeserverUrl !== undefined && !/^https?:$/.test(new URL(config.homeserverUrl).protocol)) {
    return "homeserverUrl is not an http or https URL"
  }
  return undefined
}

/** `tenant_<id>`, or `public` for the empty tenant id. */
export const tenantSchema = (tenantId: string): string => (tenantId === "" ? "public" : `tenant_${tenantId}`)

/**
 * Decodes OpenMeet's tenant list (a JSON array, as in TENANTS_B64 once decoded).
 * Tenants without Matrix configuration are left out: they have no rooms to manage.
 */
export const parseTenants = (json: string, source: string): Either.Either<ReadonlyArray<Tenant>, TenantConfigError> => {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (error) {
    return Either.left(new TenantConfigError({ message: `${source}: not valid JSON ${parsePosition(error)}` }))
  }
  return Schema.decodeUnknownEither(TenantsJson)(raw, { errors: "all" }).pipe(
    Either.mapLeft(
      (error) =>
        new TenantConfigError({
          message: `${source}: not a list of OpenMeet tenants:\n${describeWithoutValues(error)}`,
        }),
    ),
    Either.flatMap((tenants) => {
      const seen = new Set<string>()
      const result: Array<Tenant> = []
      for (const [index, tenant] of tenants.entries()) {
        if (tenant.id.includes("-") || !/^[A-Za-z0-9_]*$/.test(tenant.id)) {
          return Either.left(
            new TenantConfigError({
              message: `${source}[${index}]: tenant id ${JSON.stringify(tenant.id)} must be letters, digits or _`,
            }),
          )
        }
        if (seen.has(tenant.id)) {
          return Either.left(
            new TenantConfigError({
              message: `${source}[${index}]: tenant id ${JSON.stringify(tenant.id)} appears twice`,
            }),
          )
        }
        seen.add(tenant.id)
        if (tenant.matrixConfig === undefined) continue
        const problem = matrixConfigProblem(tenant.matrixConfig)
        if (problem !== undefined) {
          return Either.left(new TenantConfigError({ message: `${source}[${index}]: matrixConfig.${problem}` }))
        }
        const appservice = tenant.matrixConfig.appservice
        result.push({
          id: tenant.id,
          name: tenant.name ?? tenant.id,
          schema: tenantSchema(tenant.id),
          serverName: tenant.matrixConfig.serverName,
          ...(tenant.matrixConfig.homeserverUrl === undefined
            ? {}
            : { homeserverUrl: tenant.matrixConfig.homeserverUrl }),
          ...(appservice?.token === undefined ? {} : { asToken: Redacted.make(appservice.token) }),
          ...(appservice?.hsToken === undefined ? {} : { hsToken: Redacted.make(appservice.hsToken) }),
          ...(appservice?.id === undefined ? {} : { appserviceId: appservice.id }),
        })
      }
      return Either.right(result)
    }),
  )
}

/** Decodes the base64 form of TENANTS_B64. */
export const parseTenantsB64 = (b64: string): Either.Either<ReadonlyArray<Tenant>, TenantConfigError> => {
  const text = b64.trim()
  if (!/^[A-Za-z0-9+/=\s]*$/.test(text)) {
    return Either.left(new TenantConfigError({ message: "TENANTS_B64: not base64" }))
  }
  return parseTenants(Buffer.from(text, "base64").toString("utf8"), "TENANTS_B64")
}

/** Base64 of a tenant list, the form OpenMeet reads from TENANTS_B64. */
export const encodeTenantsB64 = (tenants: ReadonlyArray<Record<string, unknown>>): string =>
  Buffer.from(JSON.stringify(tenants), "utf8").toString("base64")
