import { PgClient } from "@effect/sql-pg"
import { Redacted } from "effect"

/** A client for the test database (DATABASE_URL). */
export const sqlLayer = (databaseUrl: string) => PgClient.layer({ url: Redacted.make(databaseUrl) })
