#!/usr/bin/env bash
# Mutation testing of the decisions (StrykerJS, vitest runner): packages/core's modules
# mutated one change at a time, core's own tests run against each mutant. Then the score
# and every surviving mutant are rendered into docs/reliability.md (scripts/mutation.ts).
#   pnpm mutation                                    every module of stryker.config.json
#   pnpm mutation -- --mutate packages/core/src/Safety.ts   one module (the others' rows are kept)
# Pure: no PostgreSQL or Synapse. Slow on a small machine (minutes per module).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
pnpm exec stryker run stryker.config.json "$@"
node scripts/mutation.ts
