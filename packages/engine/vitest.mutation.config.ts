import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import shared from "../../vitest.shared.ts"

/**
 * The engine's pure tests as Stryker runs them from the repository's root (pnpm mutation,
 * stryker.engine.config.json): the safety gate's budget, room identity and the plans made
 * from it, without PostgreSQL or Synapse (no global setup), rooted here, no report file.
 */
export default defineConfig({
  test: {
    ...shared.test,
    root: fileURLToPath(new URL(".", import.meta.url)),
    include: ["test/DestructiveBudget.test.ts", "test/RoomIdentity.test.ts", "test/RoomPlanning.test.ts"],
    reporters: ["default"],
  },
})
