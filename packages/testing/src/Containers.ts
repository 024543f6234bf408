/**
 * The test services in containers, for machines with a Docker engine: PostgreSQL and two
 * Synapse homeservers (openmeet.test and other.test), configured as infra/dev does it
 * locally. vitest's global setup starts them when RECONCILER_TESTCONTAINERS=1
 * (scripts/test.sh sets it when `docker info` answers and no services are given).
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PostgreSqlContainer } from "@testcontainers/postgresql"
import type { StartedTestContainer } from "testcontainers"
import { GenericContainer, Wait } from "testcontainers"
import type { SynapseSettings } from "./SynapseConfig.ts"
import { homeserverYaml, logConfig, registrationYaml } from "./SynapseConfig.ts"

const synapseImage = process.env.SYNAPSE_IMAGE ?? "matrixdotorg/synapse:latest"
const postgresImage = process.env.POSTGRES_IMAGE ?? "postgres:16-alpine"

const secret = () => randomBytes(24).toString("hex")

interface StartedSynapse {
  readonly container: StartedTestContainer
  readonly url: string
  readonly registrationPath: string
  readonly serverName: string
  readonly registrationSecret: string
}

const startSynapse = async (serverName: string, hostDir: string): Promise<StartedSynapse> => {
  const settings: SynapseSettings = {
    serverName,
    dataDir: "/data",
    asToken: secret(),
    hsToken: secret(),
    registrationSecret: secret(),
    appserviceUrl: null,
  }
  const container = await new GenericContainer(synapseImage)
    .withCopyContentToContainer([
      { content: homeserverYaml(settings), target: "/data/homeserver.yaml" },
      { content: registrationYaml(settings), target: "/data/registration.yaml" },
      { content: logConfig(settings), target: "/data/log.config" },
    ])
    // The image's start script would generate a config of its own; ours needs only keys.
    .withEntrypoint(["/bin/sh", "-c"])
    .withCommand([
      "python -m synapse.app.homeserver -c /data/homeserver.yaml --generate-keys && exec python -m synapse.app.homeserver -c /data/homeserver.yaml",
    ])
    .withExposedPorts(8008)
    .withWaitStrategy(Wait.forHttp("/_matrix/client/versions", 8008).forStatusCode(200))
    .withStartupTimeout(180_000)
    .start()
  // Tests read the tokens from the registration file, as the reconciler does.
  const registrationPath = join(hostDir, `registration-${serverName}.yaml`)
  writeFileSync(registrationPath, registrationYaml(settings), { mode: 0o600 })
  return {
    container,
    url: `http://${container.getHost()}:${container.getMappedPort(8008)}`,
    registrationPath,
    serverName,
    registrationSecret: settings.registrationSecret,
  }
}

export interface ContainerStack {
  /** The settings the tests read (DATABASE_URL, MATRIX_HOMESERVER_URL, MATRIX2_…, APPSERVICE_…). */
  readonly env: Readonly<Record<string, string>>
  readonly stop: () => Promise<void>
}

export const startContainers = async (): Promise<ContainerStack> => {
  const hostDir = mkdtempSync(join(tmpdir(), "openmeet-reconciler-"))
  const [postgres, main, second] = await Promise.all([
    new PostgreSqlContainer(postgresImage).withDatabase("openmeet_test").start(),
    startSynapse("openmeet.test", hostDir),
    startSynapse("other.test", hostDir),
  ])
  return {
    env: {
      DATABASE_URL: postgres.getConnectionUri(),
      MATRIX_HOMESERVER_URL: main.url,
      MATRIX_SERVER_NAME: main.serverName,
      APPSERVICE_REGISTRATION: main.registrationPath,
      SYNAPSE_REGISTRATION_SECRET: main.registrationSecret,
      MATRIX2_HOMESERVER_URL: second.url,
      MATRIX2_SERVER_NAME: second.serverName,
      APPSERVICE2_REGISTRATION: second.registrationPath,
    },
    stop: async () => {
      await Promise.all([postgres.stop(), main.container.stop(), second.container.stop()])
    },
  }
}
