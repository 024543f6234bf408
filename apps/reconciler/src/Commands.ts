import { Command } from "@effect/cli"
import { adopt, registration, run, status, triggerCommand } from "./AdminCommands.ts"
import { apply, explain, plan } from "./PassCommands.ts"

export { ExitCode } from "./CommandShared.ts"

/** The CLI: one module per group of commands (PassCommands, AdminCommands), their shared options in CommandShared. */
export const reconciler = Command.make("reconciler").pipe(
  Command.withDescription("OpenMeet Matrix Reconciler: keeps Matrix rooms as OpenMeet's database says."),
  Command.withSubcommands([
    run,
    plan,
    apply,
    adopt,
    explain,
    status,
    registration,
    triggerCommand("install-triggers"),
    triggerCommand("uninstall-triggers"),
  ]),
)
