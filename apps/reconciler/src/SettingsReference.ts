/**
 * Every setting an operator can give, with its default and meaning: the loader
 * (Settings.ts) takes its names and defaults from here, and the settings tables of
 * README.md and docs/deploy.md are rendered from here (`node apps/reconciler/dev/settings-table.ts
 * --write`; a test fails when they differ), so the documentation cannot drift from the code.
 */

/** The defaults the loader applies (Settings.ts reads them from here). */
export const settingDefaults = {
  reconcilerSchema: "matrix_reconciler",
  reconcileConcurrency: 8,
  appservicePort: 9000,
  httpPort: 9090,
  listenAddress: "0.0.0.0",
  resyncInterval: "10m",
  pollInterval: "30s",
  notifyChannel: "matrix_reconciler_changes",
  reconcileWorkers: 4,
  reconcileBatchSize: 50,
  stateCacheTtl: "1h",
  shutdownGrace: "30s",
  dryRun: false,
  releaseIdleHeap: true,
} as const

/** Which commands read a setting. */
export type SettingScope = "all" | "run" | "run, triggers" | "adopt"

export interface SettingReference {
  /** The name in a `--config` YAML file (camelCase); the environment uses CONSTANT_CASE. */
  readonly name: string
  /** The environment variable(s), when not simply the CONSTANT_CASE of `name`. */
  readonly env?: string
  /** False: environment only (read before the `--config` file is). */
  readonly inConfigFile: boolean
  readonly required: boolean
  /** Shown when the default is not one value of `settingDefaults` (it depends on the command). */
  readonly defaultText?: string
  readonly secret: boolean
  readonly scope: SettingScope
  readonly description: string
}

export const settingsReference: ReadonlyArray<SettingReference> = [
  {
    name: "databaseUrl",
    inConfigFile: true,
    required: true,
    secret: true,
    scope: "all",
    description: "OpenMeet's PostgreSQL. SELECT (and LISTEN) suffice; the reconciler never writes it.",
  },
  {
    name: "tenantsB64",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "all",
    description:
      "OpenMeet's tenant list as base64 JSON, as OpenMeet reads it. Tenants need `matrixConfig.serverName`. One of `TENANTS_B64` and `TENANTS_FILE` is required. May hold tokens (`matrixConfig.appservice.token` and `hsToken`): keep it with the secrets.",
  },
  {
    name: "tenantsFile",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "all",
    description: "OpenMeet's tenant list as a JSON file (instead of `TENANTS_B64`).",
  },
  {
    name: "matrixHomeserverUrl",
    inConfigFile: true,
    required: true,
    secret: false,
    scope: "all",
    description:
      "The homeserver's client API, e.g. `http://127.0.0.1:8008`. Tenants on a server name it does not serve use their own `matrixConfig.homeserverUrl` and `matrixConfig.appservice` (`token`; `hsToken` and `id` for `run`) from the tenant list.",
  },
  {
    name: "appserviceRegistration",
    inConfigFile: true,
    required: true,
    secret: false,
    scope: "all",
    description:
      "Path to the appservice registration YAML (`as_token`, `hs_token`, `sender_localpart`, namespaces); the file holds secrets.",
  },
  {
    name: "reconcilerPolicy",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "all",
    description:
      "YAML overrides of the policy (docs/policy.md): `defaults:` and `tenants: {<id>: …}` with `eventEntitledStatuses`, `eventLevels`, `groupLevels`, `joinRule`, `membershipMode`, `respectLeave`, `respectKicks`, `protectedUsers` (RE2 regular expressions, whole-id matches), `orphanPolicy`, `publicRoomVisitors`, `maxDestructivePerPass`, `maxDestructivePerRoom`, `maxDestructiveRoomFraction`.",
  },
  {
    name: "reconcilerSchema",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "all",
    description:
      "The reconciler's own tables (room records, status, audit log, leader lock); created and migrated by `apply` and `run`.",
  },
  {
    name: "reconcilerDatabaseUrl",
    inConfigFile: true,
    required: false,
    secret: true,
    scope: "all",
    description: "Where that schema lives, when not in OpenMeet's database.",
  },
  {
    name: "reconcileConcurrency",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "all",
    description: "Rooms read or written at once (1–64; Synapse gains up to about 4).",
  },
  {
    name: "logLevel",
    inConfigFile: false,
    required: false,
    defaultText: "`info` for `run`, else `warn`",
    secret: false,
    scope: "all",
    description: "`trace`, `debug`, `info`, `warn`, `error`, `fatal` or `none`; logs go to stderr.",
  },
  {
    name: "logFormat",
    inConfigFile: false,
    required: false,
    defaultText: "`json` for `run`, else `pretty`",
    secret: false,
    scope: "all",
    description: "`json` (one object per line, with `room.key` and `traceId`) or `pretty`.",
  },
  {
    name: "appservicePort",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "Where the homeserver sends transactions and alias queries (the registration's `url`).",
  },
  {
    name: "httpPort",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "`/metrics`, `/healthz`, `/readyz` (may equal `APPSERVICE_PORT`: one server).",
  },
  {
    name: "listenAddress",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "The address both servers listen on.",
  },
  {
    name: "resyncInterval",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "Full resync period, jittered ±10% (`500ms`, `30s`, `10m`, `1h` forms; at least 1s).",
  },
  {
    name: "pollInterval",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "Polling period for tenants without triggers (at least 100ms).",
  },
  {
    name: "notifyChannel",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run, triggers",
    description: "The NOTIFY channel of the database triggers.",
  },
  {
    name: "reconcileWorkers",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "Batches reconciled at once (1–64).",
  },
  {
    name: "reconcileBatchSize",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "Room keys one worker takes at once (1–1000).",
  },
  {
    name: "synapseAdminToken",
    inConfigFile: true,
    required: false,
    secret: true,
    scope: "adopt",
    description:
      "The access token of a Synapse server admin, for `reconciler adopt` (Synapse's `make_room_admin` and room state admin APIs) on the homeserver of the rooms it adopts. Needed by `adopt --confirm` only; give it for that run, not to the daemon.",
  },
  {
    name: "stateCacheTtl",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "The longest a room's cached Matrix state is trusted without a transaction about it.",
  },
  {
    name: "releaseIdleHeap",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description:
      '`true`: once the event loop is at most half busy (no pass running; keeping the state cache fresh is not work enough to wait for) after a burst of work (a full resync, a backlog) that grew its resident memory by 32 MiB or more, one compacting garbage collection gives the heap back to the system (at most one every 30 s; a pause of about 0.2 s at 2,000 rooms, 0.4 s at 10,000; docs/deploy.md, "Sizing"). `false` leaves the heap to V8, which keeps what a pass made it grow.',
  },
  {
    name: "shutdownGrace",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "How long SIGTERM waits for rooms in progress.",
  },
  {
    name: "dryRun",
    inConfigFile: true,
    required: false,
    secret: false,
    scope: "run",
    description: "`true` plans and reports only: no Matrix writes, no leader lock.",
  },
  {
    name: "otel",
    env: "OTEL_*",
    inConfigFile: false,
    required: false,
    secret: false,
    scope: "all",
    description:
      "The standard OpenTelemetry variables; traces are exported when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.",
  },
]

/** CONSTANT_CASE, as the environment names a setting. */
export const envName = (name: string): string => name.replace(/([A-Z])/g, "_$1").toUpperCase()

/** The names a `--config` file may use. */
export const configFileSettingNames: ReadonlyArray<string> = settingsReference
  .filter((setting) => setting.inConfigFile)
  .map((setting) => setting.name)

const defaultOf = (setting: SettingReference): string => {
  if (setting.defaultText !== undefined) return setting.defaultText
  const value: unknown = Object.entries(settingDefaults).find(([name]) => name === setting.name)?.[1]
  if (value !== undefined) return `\`${String(value)}\``
  return setting.required ? "required" : "—"
}

/** The settings as a Markdown table: setting, default, commands, meaning. */
export const renderSettingsTable = (): string => {
  const rows = settingsReference.map((setting) => [
    `\`${setting.env ?? envName(setting.name)}\``,
    defaultOf(setting),
    setting.scope,
    [
      setting.description,
      setting.inConfigFile ? "" : " Environment only (not in the `--config` file).",
      setting.secret ? " Secret: never logged." : "",
    ].join(""),
  ])
  const header = ["setting", "default", "read by", "meaning"]
  // Columns padded to their widest cell, as the repository's formatter writes tables.
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n")
}

/** The markers around a generated table in a Markdown file. */
export const settingsTableMarkers = {
  begin: "<!-- settings table: generated by `node apps/reconciler/dev/settings-table.ts --write`; do not edit -->",
  end: "<!-- end of settings table -->",
} as const

/** `text` with the table between the markers replaced by the current one; undefined without markers. */
export const withSettingsTable = (text: string): string | undefined => {
  const begin = text.indexOf(settingsTableMarkers.begin)
  const end = text.indexOf(settingsTableMarkers.end)
  if (begin < 0 || end < begin) return undefined
  return `${text.slice(0, begin + settingsTableMarkers.begin.length)}\n\n${renderSettingsTable()}\n\n${text.slice(end)}`
}
