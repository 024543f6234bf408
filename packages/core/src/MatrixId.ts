/** The server part of a Matrix user id (`@local:server` → `server`). */
export const serverOf = (userId: string): string => userId.slice(userId.indexOf(":") + 1)

/** Whether a handle is a valid Matrix user localpart (spec: a-z 0-9 . _ = - /, and +). */
export const isValidLocalpart = (handle: string): boolean => /^[a-z0-9._=\-/+]+$/.test(handle)

/** `@<handle>:<serverName>`. */
export const userIdOf = (handle: string, serverName: string): string => `@${handle}:${serverName}`
