import type { ActualRoom, AliasTarget, DesiredOutcome } from "@openmeet-reconciler/core"
import { formatRoomKey } from "@openmeet-reconciler/core"
import type { MatrixRequestError } from "@openmeet-reconciler/matrix"
import { describeMatrixError, Matrix } from "@openmeet-reconciler/matrix"
import { Effect } from "effect"
import { aliasOf, keyOf } from "./Pass.ts"
import type { RoomRecord } from "./StoreSchema.ts"

/** What a pass knows before looking at single rooms. */
export interface PassState {
  /** Rooms the bot is joined to on this homeserver. */
  readonly joined: ReadonlySet<string>
  /** The reconciler's own records, by key. */
  readonly records: ReadonlyMap<string, RoomRecord>
  /** Aliases looked up already in this pass: the room each names, or undefined when free. */
  readonly aliases?: ReadonlyMap<string, string | undefined>
}

/** The alias a key looks up when neither its record nor its `"matrixRoomId"` names a room the bot is in. */
export const aliasToResolve = (outcome: DesiredOutcome, state: PassState): string | undefined => {
  const record = state.records.get(formatRoomKey(keyOf(outcome)))
  const hint = hintOf(outcome)
  if (record !== undefined && state.joined.has(record.roomId)) return undefined
  // Stryker disable next-line ConditionalExpression: 'hint !== undefined' as true is equivalent, the bot is joined to no undefined room; the whole condition's true and false, disabled with it, were killed
  if (hint !== undefined && state.joined.has(hint)) return undefined
  return aliasOf(outcome)
}

export type Via = "record" | "hint" | "alias" | "tombstone"

/**
 * The room of a key, or why it has none. `claims` lists every room the key points at in any
 * way (record, `"matrixRoomId"`, alias, upgrades): none of them may be taken for an orphan.
 */
export type Identified =
  /** No room yet: one may be created. */
  | { readonly _tag: "None"; readonly claims: ReadonlyArray<string> }
  /** The room, read. */
  | {
      readonly _tag: "Found"
      readonly roomId: string
      readonly via: Via
      readonly actual: ActualRoom
      readonly aliasTarget: AliasTarget
      /** The rooms followed to it through tombstones, oldest first. */
      readonly predecessors: ReadonlyArray<string>
      readonly claims: ReadonlyArray<string>
    }
  /** Located but not read: the key's desired state failed, so nothing will be done to it. */
  | { readonly _tag: "Unread"; readonly roomId: string | undefined; readonly claims: ReadonlyArray<string> }
  /** A room exists, but the reconciler cannot tell or reach it safely: a person must decide. */
  | {
      readonly _tag: "Blocked"
      readonly roomId: string | undefined
      readonly message: string
      /** The room `reconciler adopt` would make the bot admin of (the bot is not in it). */
      readonly adopt?: string
      readonly claims: ReadonlyArray<string>
    }
  /** A read failed: the room is claimed all the same, and retried. */
  | {
      readonly _tag: "Unreadable"
      readonly roomId: string | undefined
      readonly message: string
      readonly claims: ReadonlyArray<string>
    }

/** What an operator does about a room the bot is not in (docs/operations.md). */
const adoptRemedy =
  "`reconciler adopt` can make the bot its admin and join it (Synapse's make_room_admin with a server admin's token; docs/operations.md)"

/** Upgrades followed at most: a longer chain is a loop or vandalism. */
const maxUpgrades = 5

const hintOf = (outcome: DesiredOutcome): string | undefined =>
  outcome._tag === "Desired" ? outcome.room.roomIdHint : undefined

/**
 * policy.md §2, room identity in order: the reconciler's own record, then the row's
 * `"matrixRoomId"` when the bot is in that room, then the alias; then, from the room found,
 * its upgrades (`m.room.tombstone`) to the newest room. A record or `"matrixRoomId"` whose
 * room does not hold the alias while the alias names another room is a disagreement a
 * person resolves: the key is blocked, neither room is touched.
 */
export const identifyRoom = (outcome: DesiredOutcome, state: PassState): Effect.Effect<Identified, never, Matrix> => {
  const claims: Array<string> = []
  let roomId: string | undefined
  const attempt: Effect.Effect<Identified, MatrixRequestError, Matrix> = Effect.gen(function* () {
    const matrix = yield* Matrix
    const record = state.records.get(formatRoomKey(keyOf(outcome)))
    const hint = hintOf(outcome)
    const alias = aliasOf(outcome)
    for (const id of [record?.roomId, hint]) if (id !== undefined) claims.push(id)
    let via: Via
    if (record !== undefined && state.joined.has(record.roomId)) {
      roomId = record.roomId
      via = "record"
    } else if (
      // Stryker disable next-line ConditionalExpression: 'hint !== undefined' as true is equivalent, the bot is joined to no undefined room; the whole condition's true and false, disabled with it, were killed
      hint !== undefined &&
      state.joined.has(hint)
    ) {
      roomId = hint
      via = "hint"
    } else {
      const byAlias =
        alias === undefined
          ? undefined
          : state.aliases?.has(alias) === true
            ? state.aliases.get(alias)
            : yield* matrix.resolveAlias(alias)
      if (byAlias === undefined) {
        const none: Identified =
          outcome._tag === "Failed" ? { _tag: "Unread", roomId: undefined, claims } : { _tag: "None", claims }
        return none
      }
      claims.push(byAlias)
      roomId = byAlias
      via = "alias"
    }
    if (outcome._tag === "Failed") return { _tag: "Unread", roomId, claims } as const
    if (!state.joined.has(roomId)) {
      const message = `the bot is not in room ${roomId}, which has the alias ${outcome.room.alias} (made by OpenMeet or an older bot?): ${adoptRemedy}`
      return { _tag: "Blocked", roomId, message, adopt: roomId, claims } as const
    }
    let actual = yield* matrix.readRoom(roomId)
    const predecessors: Array<string> = []
    for (let upgrades = 0; actual.successor !== undefined; upgrades++) {
      const successor = actual.successor
      claims.push(successor)
      if (upgrades >= maxUpgrades) {
        const message = `room ${roomId} has been upgraded more than ${maxUpgrades} times in a row; follow the tombstones by hand`
        return { _tag: "Blocked", roomId, message, claims } as const
      }
      if (!state.joined.has(successor)) {
        const message = `room ${roomId} was upgraded to ${successor}, and the bot is not in ${successor}: ${adoptRemedy}`
        return { _tag: "Blocked", roomId, message, adopt: successor, claims } as const
      }
      predecessors.push(roomId)
      roomId = successor
      via = "tombstone"
      actual = yield* matrix.readRoom(successor)
    }
    // Found without the alias and carrying another canonical alias, or through an upgrade
    // (one made by hand leaves the alias on the old room): where does the alias point?
    let aliasTarget: AliasTarget
    if (via === "tombstone" || (via !== "alias" && actual.canonicalAlias !== outcome.room.alias)) {
      aliasTarget = (yield* matrix.resolveAlias(outcome.room.alias)) ?? null
      if (aliasTarget !== null) claims.push(aliasTarget)
      // An alias still on a room this one replaced is moved here, never "another room".
      if (aliasTarget !== null && aliasTarget !== roomId && !predecessors.includes(aliasTarget)) {
        const named = via === "record" ? "the reconciler's record" : via === "hint" ? '"matrixRoomId"' : "an upgrade"
        const message = `two rooms for one ${outcome.room.key.kind}: ${named} names ${roomId}, the alias ${outcome.room.alias} names ${aliasTarget}; decide which is the room and point the other at it (docs/operations.md, "Two rooms for one key")`
        return { _tag: "Blocked", roomId, message, claims } as const
      }
    }
    return { _tag: "Found", roomId, via, actual, aliasTarget, predecessors, claims } as const
  })
  return attempt.pipe(
    Effect.catchAll((error: MatrixRequestError) =>
      Effect.succeed<Identified>({
        _tag: "Unreadable",
        roomId,
        message: `reading Matrix failed: ${describeMatrixError(error)}`,
        claims,
      }),
    ),
  )
}
