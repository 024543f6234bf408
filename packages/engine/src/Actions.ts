import type { Action } from "@openmeet-reconciler/core"
import { publicKickReason } from "@openmeet-reconciler/core"
import type { MatrixRequestError } from "@openmeet-reconciler/matrix"
import { Matrix } from "@openmeet-reconciler/matrix"
import { Effect } from "effect"

/** Sends one planned action to the homeserver (a room's creation is `Apply`'s own step). */
export const runAction = (roomId: string, action: Action): Effect.Effect<void, MatrixRequestError, Matrix> =>
  Effect.gen(function* () {
    const matrix = yield* Matrix
    switch (action.type) {
      case "create_room":
        return
      case "set_name":
        return yield* matrix.sendState(roomId, "m.room.name", { name: action.to })
      case "set_join_rule":
        return yield* matrix.sendState(roomId, "m.room.join_rules", { join_rule: action.to })
      case "set_history_visibility":
        return yield* matrix.sendState(roomId, "m.room.history_visibility", { history_visibility: action.to })
      case "set_guest_access":
        return yield* matrix.sendState(roomId, "m.room.guest_access", { guest_access: action.to })
      case "add_alias":
        // An alias left on a room this one replaced: the appservice owns its namespace and may move it.
        if (action.from !== undefined) yield* matrix.removeAlias(action.alias)
        return yield* matrix.addAlias(roomId, action.alias)
      case "set_canonical_alias":
        return yield* matrix.sendState(roomId, "m.room.canonical_alias", {
          alias: action.to,
          ...(action.altAliases.length > 0 ? { alt_aliases: action.altAliases } : {}),
        })
      case "set_power_levels":
      case "archive":
      case "unarchive":
        return yield* matrix.sendState(roomId, "m.room.power_levels", action.content)
      case "invite":
        return yield* matrix.invite(roomId, action.user, action.reason)
      case "join":
        // A user can only join an invite-only room once invited.
        yield* matrix.invite(roomId, action.user, action.reason)
        return yield* matrix.joinAs(roomId, action.user)
      case "kick":
        // Every member reads a kick's reason: the rule's detail stays in the audit log.
        return yield* matrix.kick(roomId, action.user, publicKickReason)
    }
  })
