/**
 * Soak: the daemon under continuous change for a long time (`pnpm bench -- soak`, 30
 * minutes by default). A few times a second, one of: a new RSVP (an invite), a withdrawn
 * RSVP (a kick), a level a human admin gave someone OpenMeet does not (put back), a
 * stranger a human admin invited into a private room (removed). Each change is timed
 * until Synapse shows the reconciler's answer. Every 10 s the daemon's resident memory
 * (/proc) and event-loop lag (its /metrics) are sampled. Prints a Markdown report and
 * exits 1 when a change never converged.
 * Usage (with the services' environment): node dev/soak.ts [minutes] [changes per second]
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import type { SqlClient } from "@effect/sql"
import { isRecord } from "@openmeet-reconciler/core"
import {
  addAttendee,
  addEvent,
  addUser,
  fixtureTenant,
  resetTenant,
  setAttendee,
  tenantsB64,
} from "@openmeet-reconciler/openmeet/testing"
import { sqlLayer, synapseClient, testServices } from "@openmeet-reconciler/testing"
import { Effect, ManagedRuntime } from "effect"

const minutes = Number(process.argv[2] ?? process.env.SOAK_MINUTES ?? "30")
const rate = Number(process.argv[3] ?? process.env.SOAK_RATE ?? "2")
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const services = testServices()
const synapse = synapseClient(services)
const db = ManagedRuntime.make(sqlLayer(services.databaseUrl))
const s = services.serverName
const tenant = fixtureTenant(`soak${Date.now().toString(36)}`, s)
const mx = (n: number) => `@${tenant.id}.u${n}:${s}`
const admin = `@admin-${tenant.id}:${s}`
const rooms = 20
const run = <A>(effect: Effect.Effect<A, unknown, SqlClient.SqlClient>) => db.runPromise(effect)

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(address !== null && typeof address === "object" ? address.port : 0))
    })
  })

const rssMiB = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0") / 1024

const metric = async (port: number, name: string) => {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  )
  const line = text.split("\n").find((l) => l.startsWith(`${name} `))
  return line === undefined ? Number.NaN : Number(line.split(" ")[1])
}

/** A change waiting for Synapse to show the reconciler's answer. */
interface Pending {
  readonly kind: string
  readonly room: number
  readonly madeAt: number
  /** The attendee whose invite this is, if it is one. */
  readonly invitee?: number
  readonly done: (members: Readonly<Record<string, string>>, users: Readonly<Record<string, unknown>>) => boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

const soak = async () => {
  await run(
    Effect.gen(function* () {
      yield* resetTenant(tenant, 40)
      yield* addUser(tenant, { id: 1 })
      for (let id = 1; id <= rooms; id++)
        yield* addEvent(tenant, { id, slug: `soak${id}`, userId: 1, visibility: "private" })
    }),
  )
  const base = {
    ...process.env,
    TENANTS_B64: tenantsB64([tenant]),
    // Kicks and put-back levels run at ~1/s here: above the default 100 per resync window.
    RECONCILER_POLICY: `defaults:\n  protectedUsers: ["@admin-.*"]\n  maxDestructivePerPass: 1000\n`,
    RECONCILER_SCHEMA: `rec_${tenant.id}`,
  }
  const triggers = spawn(process.execPath, [main, "install-triggers"], { env: base, stdio: "inherit" })
  await new Promise((resolve) => triggers.on("exit", resolve))
  const httpPort = await freePort()
  const child = spawn(process.execPath, [main, "run"], {
    env: {
      ...base,
      HTTP_PORT: String(httpPort),
      APPSERVICE_PORT: new URL(services.appserviceUrl).port,
      LISTEN_ADDRESS: "127.0.0.1",
      LOG_LEVEL: "warn",
      RESYNC_INTERVAL: "2m",
    },
    stdio: ["ignore", "ignore", "inherit"],
  })
  const pid = child.pid ?? 0
  const roomIds: Array<string> = []
  for (let id = 1; id <= rooms; id++) {
    let room: string | undefined
    for (let i = 0; i < 600 && room === undefined; i++) {
      room = await synapse.resolveAlias(`#event-soak${id}-${tenant.id}:${s}`).catch(() => undefined)
      if (room === undefined) await sleep(500)
    }
    if (room === undefined) throw new Error(`no room for event ${id}`)
    roomIds.push(room)
  }
  // A human admin (protected by policy) in every room, to make drift with.
  await synapse.register(`admin-${tenant.id}`)
  for (const room of roomIds) {
    await synapse.inviteAs(services.botUserId, room, admin)
    await synapse.joinAs(admin, room)
    const levels = await synapse.powerLevels(room)
    await synapse.setPowerLevels(room, { ...levels, users: { ...Object(levels.users), [admin]: 100 } })
  }
  await sleep(5000)

  const pending: Array<Pending> = []
  const latencies: Array<number> = []
  const samples: Array<{ readonly minute: number; readonly rssMiB: number; readonly lagP99Ms: number }> = []
  const made = new Map<string, number>()
  const attendees: Array<{ readonly user: number; readonly room: number }> = []
  // Only RSVPs whose invite Synapse showed are withdrawn: a withdrawal racing its own invite
  // would leave that invite waiting forever and count as a change that never converged.
  const invited = new Set<number>()
  let nextUser = 1000
  let stranger = 0
  const started = Date.now()
  const end = started + minutes * 60_000
  let running = true

  const checker = (async () => {
    while (running || pending.length > 0) {
      const byRoom = new Set(pending.map((p) => p.room))
      for (const room of byRoom) {
        const roomId = roomIds[room - 1] ?? ""
        const members = await synapse.memberships(roomId).catch(() => undefined)
        const levels = await synapse.powerLevels(roomId).catch(() => undefined)
        if (members === undefined || levels === undefined) continue
        const users = isRecord(levels.users) ? levels.users : {}
        for (const p of pending.filter((x) => x.room === room)) {
          if (p.done(members, users)) {
            if (p.invitee !== undefined) invited.add(p.invitee)
            latencies.push(Date.now() - p.madeAt)
            pending.splice(pending.indexOf(p), 1)
          }
        }
      }
      if (!running && Date.now() > end + 120_000) break
      await sleep(250)
    }
  })()
  const sampler = (async () => {
    while (running) {
      samples.push({
        minute: (Date.now() - started) / 60_000,
        rssMiB: rssMiB(pid),
        lagP99Ms: (await metric(httpPort, "nodejs_eventloop_lag_p99_seconds")) * 1000,
      })
      await sleep(10_000)
    }
  })()

  while (Date.now() < end) {
    const room = 1 + Math.floor(Math.random() * rooms)
    const roomId = roomIds[room - 1] ?? ""
    const roll = Math.random()
    const madeAt = Date.now()
    if (roll < 0.5 || attendees.length < 5) {
      const user = nextUser++
      await run(
        Effect.gen(function* () {
          yield* addUser(tenant, { id: user })
          yield* addAttendee(tenant, { eventId: room, userId: user, status: "confirmed" })
        }),
      )
      attendees.push({ user, room })
      pending.push({ kind: "new RSVP → invite", room, madeAt, invitee: user, done: (m) => m[mx(user)] === "invite" })
    } else if (roll < 0.7) {
      const candidates = attendees.filter((a) => invited.has(a.user))
      const gone = candidates[Math.floor(Math.random() * candidates.length)]
      if (gone === undefined) continue
      attendees.splice(attendees.indexOf(gone), 1)
      await run(setAttendee(tenant, { eventId: gone.room, userId: gone.user, status: "rejected" }))
      pending.push({
        kind: "withdrawn RSVP → kick",
        room: gone.room,
        madeAt,
        done: (m) => m[mx(gone.user)] !== "invite",
      })
    } else if (roll < 0.85) {
      const target = attendees.find((a) => a.room === room)
      if (target === undefined) continue
      const levels = await synapse.powerLevels(roomId)
      await synapse.setPowerLevels(
        roomId,
        { ...levels, users: { ...Object(levels.users), [mx(target.user)]: 50 } },
        admin,
      )
      pending.push({
        kind: "level given by a human → put back",
        room,
        madeAt,
        done: (_m, users) => users[mx(target.user)] === undefined,
      })
    } else {
      const user = `stranger${stranger++}-${tenant.id}`
      await synapse.register(user)
      await synapse.inviteAs(admin, roomId, `@${user}:${s}`)
      pending.push({
        kind: "stranger invited by a human → removed",
        room,
        madeAt,
        done: (m) => m[`@${user}:${s}`] === "leave",
      })
    }
    const kind = pending[pending.length - 1]?.kind ?? ""
    made.set(kind, (made.get(kind) ?? 0) + 1)
    await sleep(Math.max(0, 1000 / rate - (Date.now() - madeAt)))
  }
  running = false
  await sampler
  await checker
  child.kill("SIGTERM")
  await new Promise((resolve) => child.on("exit", resolve))
  await db.dispose()

  const total = [...made.values()].reduce((a, b) => a + b, 0)
  const perFiveMinutes = new Map<number, Array<(typeof samples)[number]>>()
  for (const sample of samples) {
    const bucket = Math.floor(sample.minute / 5) * 5
    perFiveMinutes.set(bucket, [...(perFiveMinutes.get(bucket) ?? []), sample])
  }
  const lines = [
    `## Soak: ${minutes} min, ${rate} change(s)/s, ${rooms} rooms (${new Date().toISOString().slice(0, 16)} UTC)`,
    "",
    "| minutes | RSS (MiB), max | event-loop lag p99 (ms), max |",
    "| --- | --: | --: |",
    ...[...perFiveMinutes].map(
      ([bucket, of]) =>
        `| ${bucket}–${bucket + 5} | ${Math.max(...of.map((x) => x.rssMiB)).toFixed(0)} | ${Math.max(...of.map((x) => x.lagP99Ms)).toFixed(1)} |`,
    ),
    "",
    "| change | made |",
    "| --- | --: |",
    ...[...made].map(([kind, n]) => `| ${kind} | ${n} |`),
    "",
    `Converged: ${latencies.length} of ${total}. Convergence latency: p50 ${(percentile(latencies, 50) / 1000).toFixed(2)} s, p99 ${(percentile(latencies, 99) / 1000).toFixed(2)} s, max ${(Math.max(...latencies) / 1000).toFixed(2)} s.`,
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
  if (pending.length > 0) {
    process.stderr.write(`${pending.length} change(s) never converged: ${pending.map((p) => p.kind).join(", ")}\n`)
    process.exit(1)
  }
}

soak().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${String(error)}\n`)
  process.exit(1)
})
