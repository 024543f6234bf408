import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import shared from "../../vitest.shared.ts"

/** Core's tests as Stryker runs them from the repository's root (pnpm mutation): rooted here, no report file. */
export default defineConfig({
  test: { ...shared.test, root: fileURLToPath(new URL(".", import.meta.url)), reporters: ["default"] },
})
