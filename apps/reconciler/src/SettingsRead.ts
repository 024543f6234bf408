/**
 * Reading settings: from the environment (CONSTANT_CASE) and then the --config YAML file,
 * the primitives they are parsed with (URLs, durations, ports), and the errors that name
 * a setting the way an operator sets it.
 */
import { readFile } from "node:fs/promises"
import { parsePosition } from "@openmeet-reconciler/core"
import { Config, ConfigError, ConfigProvider, Data, Duration, Effect, Either, Option } from "effect"
import { parse } from "yaml"
import { configFileSettingNames, envName } from "./SettingsReference.ts"

/** A setting that is missing or wrong; the message names it. */
export class SettingsError extends Data.TaggedError("SettingsError")<{ readonly message: string }> {}

/** Setting names as written in a YAML config file; the environment uses them in CONSTANT_CASE. */
const settingNames = configFileSettingNames

export const httpUrl = (name: string) =>
  Config.string(name).pipe(
    Config.validate({
      message: "must be an http(s) URL, e.g. http://127.0.0.1:8008",
      validation: (value) => {
        try {
          const url = new URL(value)
          return url.protocol === "http:" || url.protocol === "https:"
        } catch {
          return false
        }
      },
    }),
  )

/** Names settings the way an operator sets them: DATABASE_URL (databaseUrl in the file). */
const describeConfigError = (error: ConfigError.ConfigError): string => {
  const messages: Array<string> = []
  const walk = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "And":
      case "Or":
        walk(e.left)
        walk(e.right)
        return
      case "MissingData": {
        const name = e.path[e.path.length - 1] ?? "?"
        const key = settingNames.find((n) => envName(n) === name || n === name) ?? name
        messages.push(`${envName(key)} is not set (nor ${key} in the --config file)`)
        return
      }
      default: {
        const name = "path" in e ? (e.path[e.path.length - 1] ?? "?") : "?"
        const key = settingNames.find((n) => envName(n) === name || n === name) ?? name
        messages.push(`${envName(key)}: ${"message" in e ? e.message : String(e)}`)
      }
    }
  }
  walk(error)
  return [...new Set(messages)].join("; ")
}

const readConfigFile = (path: string): Effect.Effect<Record<string, unknown>, SettingsError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (error) => new SettingsError({ message: `--config ${path}: cannot read (${String(error)})` }),
    })
    const doc = yield* Effect.try({
      // No YAML warnings on stderr: they quote the line, which may hold a secret.
      try: (): unknown => parse(text, { logLevel: "error" }),
      catch: (error) => new SettingsError({ message: `--config ${path}: not valid YAML ${parsePosition(error)}` }),
    })
    if (doc === null || doc === undefined) return {}
    if (typeof doc !== "object" || Array.isArray(doc)) {
      return yield* new SettingsError({ message: `--config ${path}: expected a mapping of settings` })
    }
    const values: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(doc)) {
      if (!settingNames.some((name) => name === key)) {
        return yield* new SettingsError({
          message: `--config ${path}: unknown setting "${key}"; known: ${settingNames.join(", ")}`,
        })
      }
      values[key] = typeof value === "string" ? value : JSON.stringify(value)
    }
    return values
  })

/** Reads a config from the environment, then the --config YAML file; a failure names the settings. */
export const readConfig = <A>(
  config: Config.Config<A>,
  configFile: Option.Option<string>,
): Effect.Effect<A, SettingsError> =>
  Effect.gen(function* () {
    const fileValues = Option.isSome(configFile) ? yield* readConfigFile(configFile.value) : {}
    const provider = ConfigProvider.fromEnv().pipe(
      ConfigProvider.constantCase,
      ConfigProvider.orElse(() => ConfigProvider.fromJson(fileValues)),
    )
    return yield* Effect.withConfigProvider(config, provider).pipe(
      Effect.mapError((error) => new SettingsError({ message: describeConfigError(error) })),
    )
  })

/** `10m`, `30s`, `1h`, `500ms`, or Effect's long form (`10 minutes`). */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const short = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text)
  if (short !== null) {
    const n = Number(short[1])
    const unit = short[2]
    return Option.some(
      unit === "ms"
        ? Duration.millis(n)
        : unit === "s"
          ? Duration.seconds(n)
          : unit === "m"
            ? Duration.minutes(n)
            : Duration.hours(n),
    )
  }
  return /^\s*\d/.test(text) ? Duration.decodeUnknown(text.trim()) : Option.none()
}

export const duration = (name: string, fallback: string, min: Duration.Duration) =>
  Config.string(name).pipe(
    Config.withDefault(fallback),
    Config.mapOrFail((text) =>
      Option.match(parseDuration(text), {
        onNone: () =>
          Either.left(
            ConfigError.InvalidData([name], `must be a duration such as 30s, 10m or 1h, not ${JSON.stringify(text)}`),
          ),
        onSome: (d) =>
          Duration.lessThan(d, min)
            ? Either.left(ConfigError.InvalidData([name], `must be at least ${Duration.format(min)}`))
            : Either.right(d),
      }),
    ),
  )

export const port = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a TCP port between 1 and 65535", validation: (n) => n >= 1 && n <= 65535 }),
    Config.withDefault(fallback),
  )
