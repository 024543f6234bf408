/**
 * Development (the demo): registers a Synapse server admin with the homeserver's
 * registration shared secret (SYNAPSE_REGISTRATION_SECRET) and prints its access token on
 * stdout, for `SYNAPSE_ADMIN_TOKEN=$(node dev/server-admin.ts) reconciler adopt --confirm`.
 * Usage: node dev/server-admin.ts [localpart]   (a new one each run by default)
 */

import { registerServerAdmin, testServices } from "@openmeet-reconciler/testing"

const localpart = process.argv[2] ?? `reconciler-admin-${Date.now().toString(36)}`
const admin = await registerServerAdmin(testServices(), localpart)
process.stderr.write(`server admin ${admin.userId} registered\n`)
process.stdout.write(`${admin.accessToken}\n`)
