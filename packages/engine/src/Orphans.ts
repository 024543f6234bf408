import type { ActualRoom, Condition, EntityKind, RoomKey, RoomPlan } from "@openmeet-reconciler/core"
import { parseAlias, parseRoomKey, planOrphan, roomKey } from "@openmeet-reconciler/core"
import { describeMatrixError, Matrix } from "@openmeet-reconciler/matrix"
import { DesiredState } from "@openmeet-reconciler/openmeet"
import { Effect, Either } from "effect"
import type { RoomDetails, TenantRuntime } from "./Pass.ts"
import { contextOf } from "./Pass.ts"
import { Store } from "./Store.ts"

/** A room no key claimed whose alias names an entity that exists: not an orphan, reported on that key. */
export interface Stray {
  readonly key: RoomKey
  readonly condition: Condition
}

export interface OrphanSearch {
  readonly orphans: ReadonlyArray<{ readonly plan: RoomPlan; readonly details: RoomDetails }>
  readonly strays: ReadonlyArray<Stray>
  /** Why no orphan was declared for this homeserver at all, when a read failed. */
  readonly skipped: string | undefined
}

interface Candidate {
  readonly runtime: TenantRuntime
  readonly room: ActualRoom
  /** The room's aliases in the tenant's namespace, canonical first. */
  readonly aliases: ReadonlyArray<string>
}

const nothing: OrphanSearch = { orphans: [], strays: [], skipped: undefined }

/**
 * policy.md §5: a room is an orphan only when its event or group is really gone. Among the
 * rooms the bot is in that no key of this pass claims (by record, `"matrixRoomId"`, alias or
 * upgrade), those with an alias in a tenant's namespace are checked against OpenMeet's
 * tables, now: the entity of their record, and of every slug their aliases name. One that
 * still exists makes the room a stray of that entity, not an orphan. A room that cannot be
 * read makes the whole search declare nothing; a tenant not `trusted` (its desired state
 * had any error) only has its orphans reported.
 */
export const findOrphans = (input: {
  readonly runtimes: ReadonlyArray<TenantRuntime>
  readonly unclaimed: ReadonlyArray<string>
  readonly trusted: ReadonlySet<string>
  readonly concurrency: number
}): Effect.Effect<OrphanSearch, never, Matrix | DesiredState | Store> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    const read = yield* Effect.forEach(input.unclaimed, (roomId) => matrix.readRoom(roomId).pipe(Effect.either), {
      concurrency: input.concurrency,
    })
    const failure = read.find(Either.isLeft)
    if (failure !== undefined && Either.isLeft(failure)) {
      return { ...nothing, skipped: `a room could not be read (${describeMatrixError(failure.left)})` }
    }
    const candidates: Array<Candidate> = []
    for (const result of read) {
      if (Either.isLeft(result)) continue
      const room = result.right
      for (const runtime of input.runtimes) {
        const aliases = [room.canonicalAlias, ...room.altAliases].filter(
          (alias): alias is string =>
            alias !== undefined && parseAlias(alias, runtime.tenant.serverName)?.tenant === runtime.tenant.id,
        )
        if (aliases.length > 0) {
          candidates.push({ runtime, room, aliases })
          break
        }
      }
    }
    if (candidates.length === 0) return nothing
    const records = yield* (yield* Store).keysOfRooms(candidates.map((c) => c.room.roomId)).pipe(Effect.either)
    if (Either.isLeft(records)) return { ...nothing, skipped: `the reconciler's records: ${records.left.message}` }

    const desiredState = yield* DesiredState
    const orphans: Array<{ readonly plan: RoomPlan; readonly details: RoomDetails }> = []
    const strays: Array<Stray> = []
    for (const runtime of input.runtimes) {
      const mine = candidates.filter((c) => c.runtime === runtime)
      if (mine.length === 0) continue
      const lookups = mine.map((candidate) => ({
        candidate,
        recorded: recordedEntity(records.right.get(candidate.room.roomId)),
        slugs: candidate.aliases.flatMap((alias) => {
          const parsed = parseAlias(alias, runtime.tenant.serverName)
          return parsed === undefined ? [] : [{ kind: parsed.kind, slug: parsed.slug, alias }]
        }),
      }))
      const existing = yield* desiredState
        .entitiesExist(runtime.tenant, {
          ids: lookups.flatMap((l) => (l.recorded === undefined ? [] : [l.recorded])),
          slugs: lookups.flatMap((l) => l.slugs.map(({ kind, slug }) => ({ kind, slug }))),
        })
        .pipe(Effect.either)
      if (Either.isLeft(existing)) {
        yield* Effect.logWarning(`orphan search: tenant ${runtime.tenant.id}: ${existing.left.message}; none declared`)
        continue
      }
      for (const { candidate, recorded, slugs } of lookups) {
        const byRecord =
          recorded !== undefined && existing.right.ids.has(entityText(recorded))
            ? roomKey(runtime.tenant.id, recorded.kind, recorded.id)
            : undefined
        const bySlug = slugs.flatMap(({ kind, slug, alias }) => {
          const id = existing.right.slugs.get(`${kind}:${slug}`)
          return id === undefined ? [] : [{ key: roomKey(runtime.tenant.id, kind, id), alias }]
        })[0]
        const owner = byRecord ?? bySlug?.key
        if (owner !== undefined) {
          strays.push({ key: owner, condition: strayCondition(candidate, bySlug?.alias ?? candidate.aliases[0]) })
          continue
        }
        const key = roomKey(runtime.tenant.id, "orphan", candidate.room.roomId)
        const context = contextOf(runtime, key)
        const reportOnly = !input.trusted.has(runtime.tenant.id)
        const policy = reportOnly ? { ...context.policy, orphanPolicy: "report" as const } : context.policy
        const plan = planOrphan(candidate.room, candidate.aliases[0] ?? "", runtime.tenant.id, { ...context, policy })
        orphans.push({ plan, details: { desired: undefined, actual: candidate.room, context } })
      }
    }
    return { orphans, strays, skipped: undefined }
  }).pipe(Effect.withSpan("reconcile.orphans"))

const recordedEntity = (key: string | undefined): { readonly kind: EntityKind; readonly id: string } | undefined => {
  if (key === undefined) return undefined
  const parsed = parseRoomKey(key)
  return Either.isRight(parsed) && parsed.right.kind !== "orphan"
    ? { kind: parsed.right.kind, id: parsed.right.entityId }
    : undefined
}

const entityText = (entity: { readonly kind: EntityKind; readonly id: string }) => `${entity.kind}:${entity.id}`

const strayCondition = (candidate: Candidate, alias: string | undefined): Condition => ({
  type: "stray_room",
  message: `room ${candidate.room.roomId} also carries ${alias ?? "an alias of this room"} but is not this key's room; left alone (remove the alias from it, or make it the room: docs/operations.md, "Two rooms for one key")`,
})
