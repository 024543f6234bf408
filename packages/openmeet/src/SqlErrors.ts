/** The driver's own words: SqlError says only "Failed to execute statement", its cause says why. */
export const describeSqlError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message
}
