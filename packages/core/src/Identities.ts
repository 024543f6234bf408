/**
 * The identity table of RoomBuilder: each user of one tenant's read resolved to a Matrix
 * id once, remembered by user id (by number where the id is one, else by text).
 */

/** A user's Matrix id as one tenant read resolves it. */
export interface Identity {
  readonly id: string
  readonly valid: boolean
  /** Nothing stands in the way of using it: the user exists, no one shares the handle, it is valid. */
  readonly clean: boolean
  /** The user is active in OpenMeet (`statusId` 1, not deleted). */
  readonly active: boolean
}

/**
 * The value of a user id that is a small decimal number written the one way (`"42"`, not
 * `"042"`), else -1. OpenMeet's user ids are integers: as numbers they are found in a
 * table without reading the key's text, which in a big heap is a cache miss per row.
 */
const smallId = (text: string): number => {
  const length = text.length
  // Stryker disable next-line ConditionalExpression,EqualityOperator,LogicalOperator: equivalent where a change only sends more ids to the text table, which tells them apart too; the changes that give two ids one number, disabled with it, were killed by 'distinct user ids are distinct users'
  if (length === 0 || length > 9 || (length > 1 && text.charCodeAt(0) === 48)) return -1
  let value = 0
  for (let i = 0; i < length; i++) {
    // Stryker disable next-line ArithmeticOperator: equivalent, every id then goes to the text table
    const digit = text.charCodeAt(i) - 48
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent where a change only sends more ids to the text table; the changes that give two ids one number ('false' of each part), disabled with it, were killed by 'distinct user ids are distinct users'
    if (digit < 0 || digit > 9) return -1
    // Stryker disable next-line ArithmeticOperator: equivalent, '- digit' gives each id its negated number and '/ 10' its digits reversed after the point: still one number per id
    value = value * 10 + digit
  }
  return value
}

/** A user without a Matrix handle yet. */
// Stryker disable next-line StringLiteral: equivalent, any text is told apart from the identities
export const pending = "pending"

/** Identities by user id: by number where the id is one, else by text. */
// Stryker disable all: equivalent, the table only remembers: a user it misses is resolved again to the same identity
export class Identities {
  private readonly byNumber = new Map<number, Identity | typeof pending>()
  private readonly byText = new Map<string, Identity | typeof pending>()
  get(userId: string): Identity | typeof pending | undefined {
    const n = smallId(userId)
    return n === -1 ? this.byText.get(userId) : this.byNumber.get(n)
  }
  set(userId: string, identity: Identity | typeof pending): void {
    const n = smallId(userId)
    if (n === -1) this.byText.set(userId, identity)
    else this.byNumber.set(n, identity)
  }
}
// Stryker restore all

/**
 * Users' Matrix ids and whether their handles are valid localparts, worked out once per
 * user of a tenant's read (the users map): a user attends many events, and a tenant has
 * hundreds of thousands of rows, so a row of a user already seen costs one lookup.
 */
const identities = new WeakMap<ReadonlyMap<string, unknown>, { serverName: string; byUser: Identities }>()
export const identitiesOf = (users: ReadonlyMap<string, unknown>, serverName: string): Identities => {
  const known = identities.get(users)
  // Stryker disable next-line ConditionalExpression: 'false' is equivalent, the table is made afresh; each part's 'true', disabled with it, was killed by 'one read's users on another server name'
  if (known !== undefined && known.serverName === serverName) return known.byUser
  const byUser = new Identities()
  // Stryker disable next-line ObjectLiteral,CallExpression: equivalent, the table is then made afresh on every call
  identities.set(users, { serverName, byUser })
  return byUser
}
