/**
 * The commands around the passes: `status`, `install-triggers` / `uninstall-triggers`,
 * `registration`, `adopt`, and `run` (the daemon).
 */
import { randomBytes } from "node:crypto"
import { Command, Options } from "@effect/cli"
import { Store } from "@openmeet-reconciler/engine"
import { renderRegistration } from "@openmeet-reconciler/matrix"
import type { Tenant } from "@openmeet-reconciler/openmeet"
import { installTriggers, uninstallTriggers } from "@openmeet-reconciler/openmeet"
import { Console, Effect, Option, Redacted } from "effect"
import { runAdopt } from "./Adopt.ts"
import {
  config,
  ExitCode,
  loadScope,
  lockWait,
  output,
  reportFailures,
  room,
  tenant,
  waitForLock,
} from "./CommandShared.ts"
import { runDaemon } from "./Daemon.ts"
import { statusToJson, statusToText } from "./Output.ts"
import { databaseLayer, pgLayer, serviceLayer } from "./Runtime.ts"
import {
  loadAdoptSettings,
  loadDaemonSettings,
  loadRegistrationSettings,
  loadSettings,
  loadTriggerSettings,
  SettingsError,
} from "./Settings.ts"

export const status = Command.make("status", { config, output }, (args) =>
  reportFailures(
    Effect.gen(function* () {
      const settings = yield* loadSettings(args.config)
      const report = yield* Effect.flatMap(Store, (store) => store.status).pipe(Effect.provide(databaseLayer(settings)))
      yield* Console.log(args.output === "json" ? JSON.stringify(statusToJson(report), null, 2) : statusToText(report))
    }),
  ),
).pipe(Command.withDescription("Rooms by status, blocked rooms and the last pass, from the reconciler's own tables."))

const tenantFilter = (all: ReadonlyArray<Tenant>, wanted: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const id of wanted) {
      if (!all.some((t) => t.id === id)) {
        return yield* new SettingsError({
          message: `--tenant ${JSON.stringify(id)}: no such tenant; configured: ${all.map((t) => JSON.stringify(t.id)).join(", ")}`,
        })
      }
    }
    return wanted.length === 0 ? all : all.filter((t) => wanted.includes(t.id))
  })

export const triggerCommand = (name: "install-triggers" | "uninstall-triggers") =>
  Command.make(name, { config, tenant }, (args) =>
    reportFailures(
      Effect.gen(function* () {
        const settings = yield* loadTriggerSettings(args.config)
        const tenants = yield* tenantFilter(settings.tenants, args.tenant)
        const done = yield* (
          name === "install-triggers" ? installTriggers(tenants, settings.notifyChannel) : uninstallTriggers(tenants)
        ).pipe(
          Effect.provide(pgLayer(settings.databaseUrl)),
          Effect.mapError((error) =>
            error._tag === "TriggerError"
              ? new SettingsError({
                  message: `${name}${error.tenant === "" ? "" : ` (tenant ${JSON.stringify(error.tenant)})`}: ${error.message}`,
                })
              : error,
          ),
          Effect.as(tenants.map((t) => `${t.id === "" ? '""' : t.id} (${t.schema})`)),
        )
        yield* Console.log(
          name === "install-triggers"
            ? `Installed NOTIFY triggers (channel ${settings.notifyChannel}) for ${done.join(", ")} and on public."matrixHandleRegistry". Restart the daemon to switch from polling to LISTEN.`
            : `Removed the triggers of ${done.join(", ")} and of public."matrixHandleRegistry". The daemon polls after its next restart.`,
        )
      }),
    ),
  ).pipe(
    Command.withDescription(
      name === "install-triggers"
        ? "Install opt-in Postgres triggers that NOTIFY the daemon of changes (needs rights to create functions and triggers)."
        : "Remove the triggers install-triggers made.",
    ),
  )

export const registration = Command.make(
  "registration",
  {
    config,
    url: Options.text("url").pipe(
      Options.withDescription(
        "where the homeserver reaches the daemon's appservice API (default: the current registration's, else http://127.0.0.1:APPSERVICE_PORT)",
      ),
      Options.optional,
    ),
    namespaces: Options.choice("namespaces", ["minimal", "openmeet"]).pipe(
      Options.withDescription(
        "minimal: only what the reconciler needs; openmeet: OpenMeet's own namespaces, to replace its registration while OpenMeet's API keeps its token",
      ),
      Options.withDefault("minimal" as const),
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const settings = yield* loadRegistrationSettings(args.config)
        const current = settings.current
        // The homeserver refuses a registration whose url it cannot use: say so now, not at its restart.
        if (Option.isSome(args.url) && !/^https?:\/\/[^\s]+$/.test(args.url.value)) {
          return yield* new SettingsError({
            message: `--url ${JSON.stringify(args.url.value)}: not an http(s) URL, e.g. http://reconciler:9000`,
          })
        }
        const token = () => randomBytes(32).toString("hex")
        yield* Console.log(
          renderRegistration({
            id: current?.id ?? "openmeet-reconciler",
            url: Option.getOrElse(args.url, () => current?.url ?? `http://127.0.0.1:${settings.appservicePort}`),
            asToken: current === undefined ? token() : Redacted.value(current.asToken),
            hsToken: current === undefined ? token() : Redacted.value(current.hsToken),
            senderLocalpart: current?.senderLocalpart ?? "openmeet-bot",
            tenants: settings.tenants.map((t) => ({
              id: t.id,
              serverName: t.serverName,
              joinMode: settings.joinModeTenants.has(t.id),
            })),
            namespaces: args.namespaces,
          }).trimEnd(),
        )
      }),
    ),
).pipe(
  Command.withDescription(
    "Print an appservice registration YAML for the configured tenants: the tokens of APPSERVICE_REGISTRATION when it exists, new ones otherwise.",
  ),
)

export const adopt = Command.make(
  "adopt",
  {
    config,
    tenant,
    room,
    output,
    waitForLock,
    confirm: Options.boolean("confirm").pipe(
      Options.withDescription(
        "call Synapse's make_room_admin for the bot in the rooms listed and join it (needs SYNAPSE_ADMIN_TOKEN)",
      ),
    ),
  },
  (args) =>
    reportFailures(
      Effect.gen(function* () {
        const { settings, scope } = yield* loadScope(args.config, args.tenant, args.room)
        const { adminToken } = yield* loadAdoptSettings(args.config)
        const wait = yield* lockWait(args.waitForLock)
        const code = yield* runAdopt({
          settings,
          scope,
          adminToken,
          confirm: args.confirm,
          output: args.output,
          wait,
        }).pipe(Effect.provide(serviceLayer(settings)))
        if (code !== 0) return yield* new ExitCode({ code })
      }),
    ),
).pipe(
  Command.withDescription(
    "List the rooms where the bot lacks power (OpenMeet's legacy rooms) and what Synapse's make_room_admin would change; with --confirm, adopt them.",
  ),
)

export const run = Command.make("run", { config }, (args) =>
  reportFailures(
    Effect.gen(function* () {
      const settings = yield* loadSettings(args.config)
      const daemon = yield* loadDaemonSettings(args.config)
      return yield* runDaemon(settings, daemon)
    }),
  ),
).pipe(
  Command.withDescription(
    "The daemon: work queue, workers, periodic resync, database and Matrix triggers, /metrics, /healthz, /readyz.",
  ),
)
