import { Effect } from "effect"
import type { MatrixRequestError } from "./MatrixError.ts"

/**
 * The state cache's memory of aliases: those found free, and those the reconciler is
 * resolving right now. The alias namespace is exclusive to the appservice, so one appears
 * only when a room is created with it (its canonical alias event arrives in a transaction)
 * or is pointed at a room (the reconciler's own writes): a free alias stays free until
 * then, or until `maxAgeMs`.
 */
export const freeAliasMemory = (maxAgeMs: number, now: () => number) => {
  const free = new Map<string, number>()
  let generation = 0
  const resolving = new Map<string, number>()

  const invalidate = (alias: string) => {
    free.delete(alias)
    generation += 1
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
          const started = generation
          return lookup.pipe(
            Effect.tap((roomId) =>
              Effect.sync(() => {
                if (roomId === undefined && generation === started) free.set(alias, now())
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

  return {
    resolve,
    invalidate,
    isResolving: (alias: string) => resolving.has(alias),
    clear: () => {
      free.clear()
      generation += 1
    },
  }
}
