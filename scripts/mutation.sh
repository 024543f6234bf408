#!/usr/bin/env bash
# Mutation testing of the decisions (StrykerJS, vitest runner): packages/core's modules
# against core's tests (stryker.config.json), and the engine's safety gate and room identity
# against the engine's pure tests (stryker.engine.config.json), mutated one change at a
# time. Then the score and every surviving mutant are rendered into docs/reliability.md
# (scripts/mutation.ts).
#   pnpm mutation                                             both configs, every module
#   pnpm mutation -- --mutate packages/core/src/Safety.ts     one module (the others' rows are kept)
#   pnpm mutation -- --mutate packages/engine/src/RoomIdentity.ts --concurrency 1
# Pure: no PostgreSQL or Synapse. Slow on a small machine (minutes per module).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/dev/toolchain.sh
# pnpm 10 hands on the `--` of `pnpm mutation -- --mutate …`; Stryker would read it as a file.
if [[ "${1:-}" == "--" ]]; then shift; fi
# A --mutate naming the engine's modules runs the engine's config only, one naming core's
# modules core's only; without one, both run.
core=true
engine=true
if [[ "$*" == *packages/engine/* ]]; then core=false; fi
if [[ "$*" == *packages/core/* ]]; then engine=false; fi
if [[ $core == false && $engine == false ]]; then
  echo "mutation: --mutate names modules of core and of the engine; run them one after the other" >&2
  exit 2
fi
reports=()
if [[ $core == true ]]; then
  rm -f .mutation/core.json
  pnpm exec stryker run stryker.config.json "$@"
  reports+=(.mutation/core.json)
fi
if [[ $engine == true ]]; then
  rm -f .mutation/engine.json
  pnpm exec stryker run stryker.engine.config.json "$@"
  reports+=(.mutation/engine.json)
fi
node scripts/mutation.ts "${reports[@]}"
# The rendered tables laid out as `pnpm lint` wants them (biome formats Markdown here).
pnpm exec biome format --write docs/reliability.md >/dev/null
