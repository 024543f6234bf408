import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** The repository's root folder (no trailing slash) and a path in it. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "")
export const repoPath = (path: string): string => `${repoRoot}/${path}`
export const readRepoFile = (path: string): string => readFileSync(repoPath(path), "utf8")

/**
 * .dockerignore's patterns as regular expressions, with Docker's meaning: `*` within one
 * path segment, `**` any number of segments, and a pattern that matches a folder leaves
 * out everything in it. Exceptions (`!`) are not used here and are refused.
 */
const ignorePatterns = (): ReadonlyArray<RegExp> =>
  readRepoFile(".dockerignore")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((pattern) => {
      if (pattern.startsWith("!")) throw new Error(`.dockerignore: exceptions are not supported here: ${pattern}`)
      const source = pattern
        .replace(/^\/+|\/+$/g, "")
        .split("/")
        .map((segment) =>
          segment === "**" ? "(?:.*/)?" : `${segment.replace(/[.+^${}()|[\]\\?]/g, "\\$&").replace(/\*/g, "[^/]*")}/`,
        )
        .join("")
      return new RegExp(`^${source.replace(/\/$/, "")}(?:/|$)`.replace("(?:.*/)?(?:/|$)", ".*"))
    })

/** Whether a path (relative to the repository) is left out of the image's build context. */
export const dockerIgnored = (path: string): boolean => ignorePatterns().some((pattern) => pattern.test(path))
