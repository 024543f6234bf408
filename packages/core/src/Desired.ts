import type { RoomKey } from "./RoomKey.ts"

export type JoinRule = "public" | "invite"

/** A user who should be in the room, at a level, and the rule that says so. */
export interface DesiredMember {
  readonly userId: string
  readonly level: number
  readonly reason: string
}

/** What OpenMeet's database says one managed room should look like. */
export interface DesiredRoom {
  readonly key: RoomKey
  readonly alias: string
  readonly name: string
  readonly joinRule: JoinRule
  readonly historyVisibility: "shared"
  readonly guestAccess: "forbidden"
  /** A missing room is created only for a published entity. */
  readonly mayCreate: boolean
  /** Cancelled: members stay, only level 50 and up may post (`events_default` 50). */
  readonly archived: boolean
  /** `"matrixRoomId"` of the row: a hint, possibly stale. */
  readonly roomIdHint: string | undefined
  /** Entitled users by Matrix id. */
  readonly members: ReadonlyMap<string, DesiredMember>
  /** Users the database knows but does not entitle, with the rule that excludes them. */
  readonly excluded: ReadonlyMap<string, string>
  /**
   * Users a row cannot be decided for (an unknown role or status label, a role id with no
   * role, a handle that does not name one user): their membership and level stay as found.
   * Matrix id → the row's problem, formatted.
   */
  readonly undecided: ReadonlyMap<string, string>
  /** Every row that could not be decided, each shown as an `undecided` condition (policy.md §5). */
  readonly undecidedRows: ReadonlyArray<DataProblem>
}

/** A problem with OpenMeet's data, named by tenant, table and row id. */
export interface DataProblem {
  readonly tenant: string
  readonly table: string
  readonly id: string
  readonly message: string
}

export const formatDataProblem = (problem: DataProblem): string =>
  `tenant ${JSON.stringify(problem.tenant)}, ${problem.table} id ${problem.id}: ${problem.message}`

/** The desired state of one key: computed, or failed (and then never acted on). */
export type DesiredOutcome =
  | { readonly _tag: "Desired"; readonly room: DesiredRoom }
  | {
      readonly _tag: "Failed"
      readonly key: RoomKey
      readonly alias: string | undefined
      readonly problems: ReadonlyArray<DataProblem>
    }
