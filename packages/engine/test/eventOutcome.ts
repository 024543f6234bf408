import type { DesiredOutcome, EventFacts } from "@openmeet-reconciler/core"
import { defaultPolicy, desiredEventRoom, roomKey } from "@openmeet-reconciler/core"

/** Event 42 of tenant t1 ("party") on example.org, its desired state as core decides it. */
export const eventAlias = "#event-party-t1:example.org"
export const eventKey = roomKey("t1", "event", "42")

export const eventOutcome = (overrides: Partial<EventFacts> = {}): DesiredOutcome =>
  desiredEventRoom(
    { tenant: "t1", serverName: "example.org" },
    {
      id: "42",
      slug: "party",
      name: "Party",
      status: "published",
      visibility: "private",
      ownerId: null,
      matrixRoomId: null,
      ...overrides,
    },
    [],
    new Map(),
    defaultPolicy,
  ).outcome
