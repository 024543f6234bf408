import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import type { Policy } from "@openmeet-reconciler/core"
import { defaultPolicy } from "@openmeet-reconciler/core"
import type { TenantRuntime } from "@openmeet-reconciler/engine"
import type { Registration } from "@openmeet-reconciler/matrix"
import { loadRegistration } from "@openmeet-reconciler/matrix"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import { parseTenants, parseTenantsB64 } from "@openmeet-reconciler/openmeet"
import { Config, Duration, Effect, Either, Option, type Redacted } from "effect"
import { parsePolicy, withAppserviceUsers } from "./PolicyConfig.ts"
import { duration, httpUrl, port, readConfig, SettingsError } from "./SettingsRead.ts"
import { settingDefaults } from "./SettingsReference.ts"

export { parseDuration, SettingsError } from "./SettingsRead.ts"

/** Everything a command needs to reach OpenMeet's database and the homeserver. */
export interface Settings {
  readonly databaseUrl: Redacted.Redacted<string>
  /** Where the reconciler's own schema lives: OpenMeet's database unless RECONCILER_DATABASE_URL. */
  readonly reconcilerDatabaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly schema: string
  readonly homeserverUrl: string
  readonly registration: Registration
  readonly tenants: ReadonlyArray<Tenant>
  /** policy.md with RECONCILER_POLICY's overrides, per tenant id. */
  readonly policies: ReadonlyMap<string, Policy>
  readonly concurrency: number
}

const raw = Config.all({
  databaseUrl: Config.redacted("databaseUrl"),
  tenantsB64: Config.option(Config.string("tenantsB64")),
  tenantsFile: Config.option(Config.string("tenantsFile")),
  homeserverUrl: httpUrl("matrixHomeserverUrl"),
  registrationPath: Config.string("appserviceRegistration"),
  policy: Config.option(Config.string("reconcilerPolicy")),
  schema: Config.string("reconcilerSchema").pipe(
    Config.validate({
      message: "must be a lower-case SQL identifier (letters, digits, _), e.g. matrix_reconciler",
      validation: (value) => /^[a-z_][a-z0-9_]{0,62}$/.test(value),
    }),
    Config.withDefault(settingDefaults.reconcilerSchema),
  ),
  reconcilerDatabaseUrl: Config.option(Config.redacted("reconcilerDatabaseUrl")),
  concurrency: Config.integer("reconcileConcurrency").pipe(
    Config.validate({ message: "must be between 1 and 64", validation: (n) => n >= 1 && n <= 64 }),
    Config.withDefault(settingDefaults.reconcileConcurrency),
  ),
})

const loadTenants = (
  b64: Option.Option<string>,
  file: Option.Option<string>,
): Effect.Effect<ReadonlyArray<Tenant>, SettingsError> =>
  Effect.gen(function* () {
    const parsed = Option.isSome(b64)
      ? parseTenantsB64(b64.value)
      : Option.isSome(file)
        ? parseTenants(
            yield* Effect.tryPromise({
              try: () => readFile(file.value, "utf8"),
              catch: (error) =>
                new SettingsError({ message: `TENANTS_FILE ${file.value}: cannot read (${String(error)})` }),
            }),
            `TENANTS_FILE ${file.value}`,
          )
        : Either.left({ message: "TENANTS_B64 or TENANTS_FILE must be set (OpenMeet's tenant list)" })
    if (Either.isLeft(parsed)) return yield* new SettingsError({ message: parsed.left.message })
    if (parsed.right.length === 0) {
      return yield* new SettingsError({ message: "the tenant list has no tenant with matrixConfig.serverName" })
    }
    return parsed.right
  })

const notifyChannel = Config.string("notifyChannel").pipe(
  Config.validate({
    message: "must be a lower-case SQL identifier (letters, digits, _)",
    validation: (value) => /^[a-z_][a-z0-9_]{0,62}$/.test(value),
  }),
  Config.withDefault(settingDefaults.notifyChannel),
)

/** What `run` needs beyond the common settings. */
export interface DaemonSettings {
  readonly appservicePort: number
  readonly httpPort: number
  readonly listenAddress: string
  readonly resyncInterval: Duration.Duration
  readonly pollInterval: Duration.Duration
  readonly dryRun: boolean
  readonly shutdownGrace: Duration.Duration
  readonly workers: number
  readonly batchSize: number
  readonly stateCacheTtl: Duration.Duration
  readonly notifyChannel: string
  /** Give the heap a burst grew back to the system once idle (HeapRelease.ts). */
  readonly releaseIdleHeap: boolean
}

const daemonConfig = Config.all({
  appservicePort: port("appservicePort", settingDefaults.appservicePort),
  httpPort: port("httpPort", settingDefaults.httpPort),
  listenAddress: Config.string("listenAddress").pipe(Config.withDefault(settingDefaults.listenAddress)),
  resyncInterval: duration("resyncInterval", settingDefaults.resyncInterval, Duration.seconds(1)),
  pollInterval: duration("pollInterval", settingDefaults.pollInterval, Duration.millis(100)),
  dryRun: Config.boolean("dryRun").pipe(Config.withDefault(settingDefaults.dryRun)),
  shutdownGrace: duration("shutdownGrace", settingDefaults.shutdownGrace, Duration.zero),
  workers: Config.integer("reconcileWorkers").pipe(
    Config.validate({ message: "must be between 1 and 64", validation: (n) => n >= 1 && n <= 64 }),
    Config.withDefault(settingDefaults.reconcileWorkers),
  ),
  batchSize: Config.integer("reconcileBatchSize").pipe(
    Config.validate({ message: "must be between 1 and 1000", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(settingDefaults.reconcileBatchSize),
  ),
  stateCacheTtl: duration("stateCacheTtl", settingDefaults.stateCacheTtl, Duration.zero),
  notifyChannel,
  releaseIdleHeap: Config.boolean("releaseIdleHeap").pipe(Config.withDefault(settingDefaults.releaseIdleHeap)),
})

/** Reads and validates the daemon's settings (ports, intervals, DRY_RUN). */
export const loadDaemonSettings = (configFile: Option.Option<string>): Effect.Effect<DaemonSettings, SettingsError> =>
  readConfig(daemonConfig, configFile)

/** What install-triggers and uninstall-triggers need: the database, the tenants, the channel. */
export interface TriggerSettings {
  readonly databaseUrl: Redacted.Redacted<string>
  readonly tenants: ReadonlyArray<Tenant>
  readonly notifyChannel: string
}

/** Reads only the settings the trigger commands need (no homeserver, no registration). */
export const loadTriggerSettings = (configFile: Option.Option<string>): Effect.Effect<TriggerSettings, SettingsError> =>
  Effect.gen(function* () {
    const values = yield* readConfig(
      Config.all({
        databaseUrl: Config.redacted("databaseUrl"),
        tenantsB64: Config.option(Config.string("tenantsB64")),
        tenantsFile: Config.option(Config.string("tenantsFile")),
        notifyChannel,
      }),
      configFile,
    )
    return {
      databaseUrl: values.databaseUrl,
      tenants: yield* loadTenants(values.tenantsB64, values.tenantsFile),
      notifyChannel: values.notifyChannel,
    }
  })

/** What `adopt` needs beyond the common settings: a Synapse server admin's token, when given. */
export const loadAdoptSettings = (
  configFile: Option.Option<string>,
): Effect.Effect<{ readonly adminToken: Option.Option<Redacted.Redacted<string>> }, SettingsError> =>
  readConfig(Config.all({ adminToken: Config.option(Config.redacted("synapseAdminToken")) }), configFile)

/** What `registration` needs: the tenants, the current registration if any, the port. */
export interface RegistrationSettings {
  readonly tenants: ReadonlyArray<Tenant>
  /** Tenants whose policy joins users through the appservice (`membershipMode: join`). */
  readonly joinModeTenants: ReadonlySet<string>
  readonly current: Registration | undefined
  readonly appservicePort: number
}

/** Reads the settings of `registration`; APPSERVICE_REGISTRATION may name a file that does not exist yet. */
export const loadRegistrationSettings = (
  configFile: Option.Option<string>,
): Effect.Effect<RegistrationSettings, SettingsError> =>
  Effect.gen(function* () {
    const values = yield* readConfig(
      Config.all({
        tenantsB64: Config.option(Config.string("tenantsB64")),
        tenantsFile: Config.option(Config.string("tenantsFile")),
        registrationPath: Config.option(Config.string("appserviceRegistration")),
        appservicePort: port("appservicePort", settingDefaults.appservicePort),
        policy: Config.option(Config.string("reconcilerPolicy")),
      }),
      configFile,
    )
    const tenants = yield* loadTenants(values.tenantsB64, values.tenantsFile)
    const policies = parsePolicy(
      Option.getOrUndefined(values.policy),
      tenants.map((t) => t.id),
    )
    if (Either.isLeft(policies)) return yield* new SettingsError({ message: policies.left })
    const path = Option.getOrUndefined(values.registrationPath)
    const current =
      path === undefined || !existsSync(path)
        ? undefined
        : yield* loadRegistration(path).pipe(Effect.mapError((error) => new SettingsError({ message: error.message })))
    return {
      tenants,
      joinModeTenants: new Set(
        tenants.filter((t) => policies.right.get(t.id)?.membershipMode === "join").map((t) => t.id),
      ),
      current,
      appservicePort: values.appservicePort,
    }
  })

/** Reads settings from the environment, then the --config YAML file; validates them all. */
export const loadSettings = (configFile: Option.Option<string>): Effect.Effect<Settings, SettingsError> =>
  Effect.gen(function* () {
    const values = yield* readConfig(raw, configFile)
    const tenants = yield* loadTenants(values.tenantsB64, values.tenantsFile)
    const policies = parsePolicy(
      Option.getOrUndefined(values.policy),
      tenants.map((t) => t.id),
    )
    if (Either.isLeft(policies)) return yield* new SettingsError({ message: policies.left })
    const registration = yield* loadRegistration(values.registrationPath).pipe(
      Effect.mapError((error) => new SettingsError({ message: error.message })),
    )
    const protectedPolicies = withAppserviceUsers(
      policies.right,
      registration.exclusiveUsers,
      tenants.map((t) => t.serverName),
    )
    if (Either.isLeft(protectedPolicies)) return yield* new SettingsError({ message: protectedPolicies.left })
    return {
      databaseUrl: values.databaseUrl,
      reconcilerDatabaseUrl: values.reconcilerDatabaseUrl,
      schema: values.schema,
      homeserverUrl: values.homeserverUrl,
      registration,
      tenants,
      policies: protectedPolicies.right,
      concurrency: values.concurrency,
    }
  })

/** The tenants as the engine runs them. */
export const tenantRuntimes = (settings: Settings): ReadonlyArray<TenantRuntime> =>
  settings.tenants.map((tenant) => ({
    tenant,
    policy: settings.policies.get(tenant.id) ?? defaultPolicy,
    botUserId: `@${settings.registration.senderLocalpart}:${tenant.serverName}`,
  }))
