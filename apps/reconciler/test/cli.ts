import { type ChildProcess, execFile, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { TestServices } from "@openmeet-reconciler/testing"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** The environment a deployment would give the reconciler. */
export const cliEnv = (services: TestServices, extra: Record<string, string>): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  DATABASE_URL: services.databaseUrl,
  MATRIX_HOMESERVER_URL: services.homeserverUrl,
  APPSERVICE_REGISTRATION: services.registrationPath,
  ...extra,
})

/** Runs `reconciler <args>` as a separate process, as an operator would. */
export const runCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })

/** Starts `reconciler <args>` without waiting, so a test can kill it mid-way. */
export const startCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ChildProcess =>
  spawn(process.execPath, [main, ...args], { env, stdio: ["ignore", "ignore", "pipe"] })
