import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/** Test settings shared by every package (each package's vitest.config.ts re-exports this). */
const shared = defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests talk to a real PostgreSQL and Synapse; a pass can take seconds.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Suites share one Synapse; running files one after another keeps its load honest.
    fileParallelism: false,
    // The JSON report lets scripts/test.sh print one total for the whole suite.
    reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
  },
})

export default shared

/** For packages whose tests need PostgreSQL and Synapse: containers when only Docker has them. */
export const withServices = defineConfig({
  test: {
    ...shared.test,
    globalSetup: [fileURLToPath(new URL("./packages/testing/src/globalSetup.ts", import.meta.url))],
  },
})
