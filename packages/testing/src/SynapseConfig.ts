/**
 * A test homeserver's configuration: the one generator for the local Synapse
 * (infra/dev/synapse.sh, through infra/dev/synapse-config.ts), the containers
 * (testcontainers) and infra/compose. Loopback or container only, no federation,
 * SQLite unless a PostgreSQL database is given (the benchmarks: production runs Synapse
 * on PostgreSQL), rate limits relaxed, OpenMeet's appservice registration.
 */

/** A PostgreSQL database for Synapse; it must be UTF8 with C collation (Synapse checks). */
export interface SynapsePostgres {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
}

export interface SynapseSettings {
  readonly serverName: string
  /** The client listener: 0.0.0.0:8008 in a container, 127.0.0.1 and a free port locally. */
  readonly bind?: string
  readonly port?: number
  /** Inside the container. */
  readonly dataDir: string
  readonly asToken: string
  readonly hsToken: string
  readonly registrationSecret: string
  /** Where Synapse pushes transactions to the reconciler, or null. */
  readonly appserviceUrl: string | null
  /** Synapse's own database: SQLite in the data folder when absent. */
  readonly postgres?: SynapsePostgres
  /**
   * `relaxed` (default): limits no test reaches. `synapse`: Synapse's own defaults (a
   * homeserver as deployed), for tests of how the reconciler copes with them.
   */
  readonly rateLimits?: "relaxed" | "synapse"
  /** The registration's `rate_limited` (default false, as OpenMeet registers it). */
  readonly rateLimited?: boolean
}

const databaseYaml = (s: SynapseSettings): string =>
  s.postgres === undefined
    ? `database:
  name: sqlite3
  args:
    database: "${s.dataDir}/homeserver.db"`
    : `database:
  name: psycopg2
  args:
    host: "${s.postgres.host}"
    port: ${s.postgres.port}
    user: "${s.postgres.user}"
    dbname: "${s.postgres.database}"
    cp_min: 5
    cp_max: 10`

const rateLimit = "{per_second: 10000, burst_count: 100000}"

const relaxedLimits = `rc_message: ${rateLimit}
rc_registration: ${rateLimit}
rc_login: {address: ${rateLimit}, account: ${rateLimit}, failed_attempts: ${rateLimit}}
rc_joins: {local: ${rateLimit}, remote: ${rateLimit}}
rc_joins_per_room: ${rateLimit}
rc_invites: {per_room: ${rateLimit}, per_user: ${rateLimit}, per_issuer: ${rateLimit}}
rc_room_creation: ${rateLimit}
rc_admin_redaction: ${rateLimit}
rc_3pid_validation: ${rateLimit}
`

export const homeserverYaml = (s: SynapseSettings): string => `server_name: "${s.serverName}"
listeners:
  - port: ${s.port ?? 8008}
    bind_addresses: ["${s.bind ?? "0.0.0.0"}"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
${databaseYaml(s)}
log_config: "${s.dataDir}/log.config"
media_store_path: "${s.dataDir}/media_store"
signing_key_path: "${s.dataDir}/signing.key"
report_stats: false
enable_metrics: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
enable_registration: false
registration_shared_secret: "${s.registrationSecret}"
macaroon_secret_key: "${s.registrationSecret}-macaroon"
form_secret: "${s.registrationSecret}-form"
app_service_config_files: ["${s.dataDir}/registration.yaml"]
presence: {enabled: false}
url_preview_enabled: false
${s.rateLimits === "synapse" ? "" : relaxedLimits}`

/** OpenMeet's registration (openmeet-facts.md): the bot, every local user shared, our alias namespace. */
export const registrationYaml = (s: SynapseSettings): string => `id: "openmeet-bot"
url: ${s.appserviceUrl === null ? "null" : `"${s.appserviceUrl}"`}
as_token: "${s.asToken}"
hs_token: "${s.hsToken}"
sender_localpart: "openmeet-bot"
rate_limited: ${s.rateLimited === true}
namespaces:
  users:
    - {exclusive: true, regex: "@openmeet-bot-.*"}
    - {exclusive: false, regex: "@.*"}
  aliases:
    - {exclusive: true, regex: "#(event|group)-.*"}
  rooms:
    - {exclusive: false, regex: ".*"}
`

export const logConfig = (s: SynapseSettings): string => `version: 1
formatters:
  precise: {format: '%(asctime)s - %(name)s - %(levelname)s - %(request)s - %(message)s'}
handlers:
  file:
    class: logging.handlers.RotatingFileHandler
    formatter: precise
    filename: "${s.dataDir}/homeserver.log"
    maxBytes: 52428800
    backupCount: 1
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
`
