import { Effect } from "effect"
import type { MatrixRequestError } from "./MatrixError.ts"

/** An alias found free at `at` (ms since the epoch). */
export interface FreeAlias {
  readonly alias: string
  readonly at: number
}

/**
 * The state cache's memory of aliases: those found free, and those the reconciler is
 * resolving right now. The alias namespace is exclusive to the appservice, so one appears
 * only when a room is created with it (its canonical alias event arrives in a transaction)
 * or is pointed at a room (the reconciler's own writes): a free alias stays free until
 * then, or until `maxAgeMs`. `tick` is the cache's counter of drops: a lookup begun before
 * its alias was dropped is not kept.
 */
export const freeAliasMemory = (
  maxAgeMs: number,
  now: () => number,
  epoch: { readonly current: () => number; readonly next: () => number },
  /** The cache's invalidation token now: a lookup carries the one it began with. */
  token: () => bigint,
  onFree: (found: FreeAlias & { readonly token: bigint }) => void,
) => {
  const free = new Map<string, number>()
  const droppedAt = new Map<string, number>()
  let clearedAt = 0
  const resolving = new Map<string, number>()
  const droppedSince = (alias: string, mark: number) => Math.max(droppedAt.get(alias) ?? 0, clearedAt) > mark

  const invalidate = (alias: string) => {
    free.delete(alias)
    droppedAt.set(alias, epoch.next())
  }

  /** Looks an alias up with `lookup` unless it is known free; `onHit` counts answers from memory. */
  const resolve = (
    alias: string,
    lookup: Effect.Effect<string | undefined, MatrixRequestError>,
    onHit: () => void,
  ): Effect.Effect<string | undefined, MatrixRequestError> =>
    Effect.acquireUseRelease(
      Effect.sync(() => resolving.set(alias, (resolving.get(alias) ?? 0) + 1)),
      () =>
        Effect.suspend(() => {
          const since = free.get(alias)
          if (since !== undefined && now() - since < maxAgeMs) {
            onHit()
            return Effect.succeed(undefined)
          }
          const mark = epoch.current()
          const began = token()
          return lookup.pipe(
            Effect.tap((roomId) =>
              Effect.sync(() => {
                if (roomId !== undefined || droppedSince(alias, mark)) return
                const at = now()
                free.set(alias, at)
                onFree({ alias, at, token: began })
              }),
            ),
          )
        }),
      () =>
        Effect.sync(() => {
          const count = (resolving.get(alias) ?? 1) - 1
          if (count <= 0) resolving.delete(alias)
          else resolving.set(alias, count)
        }),
    )

  /** Keeps aliases found free elsewhere (persisted), except those dropped since `mark` or expired. */
  const prime = (found: Iterable<FreeAlias>, mark: number) => {
    for (const { alias, at } of found) {
      if (droppedSince(alias, mark) || now() - at >= maxAgeMs) continue
      if ((free.get(alias) ?? Number.NEGATIVE_INFINITY) < at) free.set(alias, at)
    }
  }

  return {
    resolve,
    invalidate,
    prime,
    isResolving: (alias: string) => resolving.has(alias),
    clear: () => {
      free.clear()
      clearedAt = epoch.next()
    },
  }
}
