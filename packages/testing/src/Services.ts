import { readFileSync } from "node:fs"
import { parse } from "yaml"

/** Where the real services for integration tests are: from the environment, as scripts/test.sh sets it. */
export interface TestServices {
  readonly databaseUrl: string
  readonly homeserverUrl: string
  readonly registrationPath: string
  readonly asToken: string
  readonly hsToken: string
  readonly serverName: string
  readonly botUserId: string
  /** Where the homeserver sends transactions (the registration's url): the daemon listens there. */
  readonly appserviceUrl: string
}

const required = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set: integration tests run against a real PostgreSQL and Synapse. ` +
        "Run scripts/test.sh (it starts them), or `bash infra/dev/up.sh` and source $RECONCILER_STATE/services.env, " +
        "or point DATABASE_URL, MATRIX_HOMESERVER_URL and APPSERVICE_REGISTRATION at your own.",
    )
  }
  return value
}

/** Reads the services from the environment; throws with instructions when they are not there. */
export const testServices = (): TestServices => servicesFrom("")

/**
 * The second homeserver (another server name) that tests of tenants on different servers
 * use: MATRIX2_HOMESERVER_URL, MATRIX2_SERVER_NAME, APPSERVICE2_REGISTRATION
 * (scripts/test.sh starts it).
 */
export const secondHomeserver = (): TestServices => servicesFrom("2")

const servicesFrom = (suffix: "" | "2"): TestServices =>
  servicesOf({
    databaseUrl: required("DATABASE_URL"),
    homeserverUrl: required(`MATRIX${suffix}_HOMESERVER_URL`),
    registrationPath: required(`APPSERVICE${suffix}_REGISTRATION`),
    serverName: process.env[`MATRIX${suffix}_SERVER_NAME`] ?? "openmeet.test",
  })

/** The services at these places, with the tokens and the bot read from the registration file. */
export const servicesOf = (where: {
  readonly databaseUrl: string
  readonly homeserverUrl: string
  readonly registrationPath: string
  readonly serverName: string
}): TestServices => {
  const { registrationPath, serverName } = where
  const registration: unknown = parse(readFileSync(registrationPath, "utf8"))
  if (typeof registration !== "object" || registration === null) throw new Error(`${registrationPath}: not a mapping`)
  const field = (name: string): string => {
    const value: unknown = Reflect.get(registration, name)
    if (typeof value !== "string") throw new Error(`${registrationPath}: ${name} missing`)
    return value
  }
  return {
    databaseUrl: where.databaseUrl,
    homeserverUrl: where.homeserverUrl,
    registrationPath,
    asToken: field("as_token"),
    hsToken: field("hs_token"),
    serverName,
    botUserId: `@${field("sender_localpart")}:${serverName}`,
    appserviceUrl: field("url"),
  }
}

/** A tenant id no earlier run used, so tests never see each other's rooms (aliases include it). */
export const uniqueTenantId = (prefix: string): string =>
  `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
