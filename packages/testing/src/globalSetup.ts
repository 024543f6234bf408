/**
 * vitest global setup: with RECONCILER_TESTCONTAINERS=1 (a Docker engine, no services
 * given), starts PostgreSQL and Synapse in containers for this test run and stops them
 * after; otherwise the tests use the services in the environment (infra/dev).
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.RECONCILER_TESTCONTAINERS !== "1") return undefined
  const { startContainers } = await import("./Containers.ts")
  const stack = await startContainers()
  // Workers start after global setup and inherit this environment.
  Object.assign(process.env, stack.env)
  return stack.stop
}
