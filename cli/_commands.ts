/**
 * Internal: the `sysipc` verbs — `ls`, `stat`, `rm`, `reap`, `limits` — on
 * top of the library's introspection (`info/`). Each returns the exit status.
 *
 * @module
 */
import { IpcError } from "../errors.ts";
import { holdersOf, processAlive, scanHolders } from "../info/holders.ts";
import { type IpcLimit, limits as readLimits } from "../info/limits.ts";
import {
  type IpcObjectInfo,
  type IpcObjectKind,
  listObjects,
  mqueueMount,
  posixDir,
  posixObjectNamed,
  SHM_DIR,
} from "../info/objects.ts";
import { removeObject, staleIn, type StaleObject } from "../info/stale.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { MessageQueue } from "../sysv/message_queue.ts";
import { PosixMessageQueue } from "../posix/message_queue.ts";
import { PosixSemaphore } from "../posix/semaphore.ts";
import { age, hexKey, mode, type Output, paint, size, table, when } from "./_format.ts";

/** The version of the `--json` output's schema; it grows only by new fields. */
export const JSON_SCHEMA = 1;

/** A failure the user caused (exit status 2) or one the system reported (1). */
export class CliError extends Error {
  /** The exit status. */
  readonly status: number;
  /** @param message One line. @param status 2 for a usage error, 1 otherwise. */
  constructor(message: string, status = 2) {
    super(message);
    this.status = status;
  }
}

const isSysv = (k: IpcObjectKind): k is "shm" | "sem" | "msg" =>
  k === "shm" || k === "sem" || k === "msg";

/** How an object is named on a command line: its id, or its POSIX name. */
export function label(o: IpcObjectInfo): string {
  return "id" in o ? String(o.id) : o.name;
}

/** The pids a record names, and which of them have exited. */
function pidsOf(o: IpcObjectInfo): Record<string, number> {
  if (o.kind === "shm") return { creator: o.creatorPid, last: o.lastPid };
  if (o.kind === "msg") return { lastSend: o.lastSendPid, lastReceive: o.lastReceivePid };
  return {};
}

/** A record for `--json`: the library's, plus `holders` (POSIX) and `exitedPids`. */
function jsonRecord(o: IpcObjectInfo, holders: Map<string, number[]> | undefined) {
  const exitedPids = [...new Set(Object.values(pidsOf(o)))].filter((p) =>
    p > 0 && !processAlive(p)
  );
  const extra: { holders?: number[]; exitedPids: number[] } = { exitedPids };
  if (!isSysv(o.kind) && holders) extra.holders = holdersOfObject(o, holders);
  return { ...o, ...extra };
}

/** The live holders of a POSIX object (System V ones have none listed). */
function holdersOfObject(o: IpcObjectInfo, held: Map<string, number[]>): number[] {
  return "inode" in o ? holdersOf(held, o) : [];
}

// ---------------------------------------------------------------------------
// ls
// ---------------------------------------------------------------------------

/** `sysipc ls`. */
export function ls(
  io: Output,
  kinds: readonly IpcObjectKind[],
  user: string | undefined,
  json: boolean,
): number {
  let objects = listObjects({ kinds });
  if (user !== undefined) {
    objects = objects.filter((o) => o.user === user || String(o.uid) === user);
  }
  const held = kinds.some((k) => !isSysv(k)) ? scanHolders().held : undefined;
  if (json) {
    const records = objects.map((o) => jsonRecord(o, held));
    io.out(JSON.stringify({ schema: JSON_SCHEMA, objects: records }, null, 2) + "\n");
    return 0;
  }
  const now = Date.now();
  let gone = false;
  const pid = (p: number) => {
    if (p <= 0) return "-";
    if (processAlive(p)) return String(p);
    gone = true;
    return paint(io.color, "dim", `${p}*`);
  };
  const rows = objects.map((o) => {
    const owner = o.user;
    if (isSysv(o.kind)) {
      const s = o as IpcObjectInfo & { id: number; key: number; changeTime: Date | null };
      const common = [o.kind, String(s.id), hexKey(s.key), owner, mode(o.mode)];
      const since = s.changeTime ? age(now - s.changeTime.getTime()) : "-";
      if (o.kind === "shm") {
        const use = o.removed ? `${o.attachCount} att, removed` : `${o.attachCount} att`;
        return [...common, size(o.size), use, `${pid(o.creatorPid)}/${pid(o.lastPid)}`, since];
      }
      if (o.kind === "sem") return [...common, `${o.count} sem`, "-", "-", since];
      if (o.kind === "msg") {
        const pids = `${pid(o.lastSendPid)}/${pid(o.lastReceivePid)}`;
        return [...common, size(o.bytes), `${o.messageCount} msg`, pids, since];
      }
    }
    const p = o as IpcObjectInfo & { name: string; size: number; birthTime: Date | null };
    const holders = held ? holdersOfObject(o, held) : [];
    const shown = holders.slice(0, 3).join(",") + (holders.length > 3 ? ",…" : "");
    const since = age(now - (p.birthTime ?? (p as { changeTime: Date }).changeTime).getTime());
    const use = holders.length === 1 ? "1 proc" : `${holders.length} procs`;
    const bytes = o.kind === "posix-sem" ? "-" : size(p.size);
    return [o.kind, "-", p.name, owner, mode(o.mode), bytes, use, shown || "-", since];
  });
  io.out(table(
    ["KIND", "ID", "KEY/NAME", "OWNER", "MODE", "SIZE", "USE", "PIDS", "AGE"],
    rows,
    ["left", "right", "left", "left", "left", "right", "right", "left", "right"],
    io.color,
  ));
  if (objects.length === 0) io.out("(no IPC objects)\n");
  const notes: string[] = [];
  if (gone) notes.push("* the process has exited");
  if (objects.some((o) => o.kind === "shm" || o.kind === "msg")) {
    notes.push("PIDS: creator/last for shm, last send/receive for msg; holders for POSIX");
  }
  if (kinds.includes("posix-mq") && mqueueMount() === null) {
    notes.push("POSIX queues not listed: no mqueue file system is mounted (see `sysipc limits`)");
  }
  for (const n of notes) io.out(paint(io.color, "dim", n) + "\n");
  return 0;
}

// ---------------------------------------------------------------------------
// finding one object: by id, 0x key or name
// ---------------------------------------------------------------------------

/**
 * The object a command-line argument names: a System V id (decimal) or key
 * (`0x…` hex, as `ipcs` prints it), or a POSIX name with or without its `/`.
 *
 * @throws {CliError} 2 if the argument cannot name such an object; 1 if
 *   no such object exists.
 */
export function find(kind: IpcObjectKind, target: string): IpcObjectInfo {
  const t = parseTarget(kind, target);
  if ("id" in t || "key" in t) {
    const hit = listObjects({ kinds: [kind] }).find((o) =>
      "id" in t ? (o as { id: number }).id === t.id : (o as { key: number }).key === t.key
    );
    if (!hit) throw new CliError(`no ${kind} with ${"id" in t ? "id" : "key"} ${target}`, 1);
    return hit;
  }
  const posixKind = kind as "posix-shm" | "posix-sem" | "posix-mq";
  const hit = posixObjectNamed(posixKind, t.name);
  if (!hit) {
    const why = posixDir(posixKind) === null
      ? " (no mqueue file system is mounted to look in)"
      : "";
    throw new CliError(`no ${kind} named ${t.name}${why}`, 1);
  }
  return hit;
}

/**
 * What an argument names: `{ id }` or `{ key }` for System V, `{ name }`
 * (with its `/`) for POSIX.
 *
 * @throws {CliError} 2 if it cannot name an object of this kind.
 */
export function parseTarget(
  kind: IpcObjectKind,
  target: string,
): { id: number } | { key: number } | { name: string } {
  if (!isSysv(kind)) return { name: posixName(kind, target) };
  if (/^0x[0-9a-f]{1,8}$/i.test(target)) {
    const key = parseInt(target, 16);
    if (key === 0) {
      throw new CliError(`${kind} ${target}: IPC_PRIVATE objects have no key; give the id`);
    }
    return { key };
  }
  if (/^\d{1,10}$/.test(target) && Number(target) <= 0x7fffffff) return { id: Number(target) };
  throw new CliError(`${kind} ${target}: not an id (decimal) or a key (0x… hex)`);
}

function posixName(kind: IpcObjectKind, target: string): string {
  const name = target.startsWith("/") ? target : `/${target}`;
  if (name.length < 2 || name.slice(1).includes("/") || name.includes("\0")) {
    throw new CliError(`${kind} ${target}: not a POSIX name (one leading "/", no other "/")`);
  }
  return name;
}

// ---------------------------------------------------------------------------
// stat
// ---------------------------------------------------------------------------

/** `sysipc stat`. */
export function stat(io: Output, kind: IpcObjectKind, target: string, json: boolean): number {
  const o = find(kind, target);
  const record: Record<string, unknown> = jsonRecord(
    o,
    isSysv(kind) ? undefined : scanHolders().held,
  );
  // What only the object itself can tell, read without changing it.
  try {
    if (o.kind === "sem") {
      using set = SemaphoreSet.fromId(o.id);
      record.semaphores = Array.from({ length: set.count }, (_, i) => {
        const s = set.at(i);
        return {
          index: i,
          value: s.value,
          lastPid: s.lastPid,
          waitingForIncrease: s.waitingForIncrease,
          waitingForZero: s.waitingForZero,
        };
      });
    } else if (o.kind === "msg") {
      using q = MessageQueue.fromId(o.id);
      record.maxBytes = q.stat().maxBytes;
    } else if (o.kind === "posix-sem") {
      using s = PosixSemaphore.open(o.name);
      record.value = s.value;
    } else if (o.kind === "posix-mq") {
      using q = PosixMessageQueue.open(o.name, { access: "read" });
      Object.assign(record, q.attributes());
    }
  } catch (e) {
    if (!(e instanceof IpcError)) throw e;
    record.unreadable = `${e.code}: ${e.message}`;
  }
  if (json) {
    io.out(JSON.stringify({ schema: JSON_SCHEMA, object: record }, null, 2) + "\n");
    return 0;
  }
  const now = Date.now();
  const rows: string[][] = [];
  for (const [k, value] of Object.entries(record)) {
    let text: string;
    if (value instanceof Date || (value === null && /Time$/.test(k))) text = when(value, now);
    else if (k === "mode") text = `${mode(value as number)} (${(value as number).toString(8)})`;
    else if (k === "key") text = hexKey(value as number);
    else if (k === "semaphores") {
      text = (value as { index: number; value: number; lastPid: number }[]).map((s) =>
        `[${s.index}] value ${s.value}, last pid ${s.lastPid}`
      ).join("; ");
    } else if (/^(size|bytes|rss|swap|maxBytes)$/.test(k) && typeof value === "number") {
      text = `${value} (${size(value)})`;
    } else if (Array.isArray(value)) text = value.length ? value.join(", ") : "none";
    else text = String(value);
    rows.push([k, text]);
  }
  io.out(table(["FIELD", "VALUE"], rows, ["left", "left"], io.color));
  return 0;
}

// ---------------------------------------------------------------------------
// rm
// ---------------------------------------------------------------------------

/** `sysipc rm`: removes each target; the status is 1 if any failed. */
export function rm(io: Output, kind: IpcObjectKind, targets: string[]): number {
  try {
    for (const t of targets) parseTarget(kind, t); // a typo removes nothing
  } catch (e) {
    throw e instanceof CliError ? new CliError(`rm: ${e.message}`) : e;
  }
  let failed = 0;
  for (const target of targets) {
    try {
      let o: IpcObjectInfo | undefined;
      if (isSysv(kind) || kind !== "posix-mq" || mqueueMount() !== null) o = find(kind, target);
      if (o) {
        removeObject(o);
        io.out(`removed ${describe(o)}\n`);
      } else {
        // No mqueue mount to find it in: mq_unlink works by name all the same.
        const name = posixName(kind, target);
        PosixMessageQueue.unlink(name);
        io.out(`removed posix-mq ${name}\n`);
      }
    } catch (e) {
      failed++;
      io.err(`sysipc rm: ${oneLine(e)}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** `shm id 5 (key 0x0000162e)`, `posix-shm /jobs`. */
export function describe(o: IpcObjectInfo): string {
  if ("id" in o) return `${o.kind} id ${o.id} (key ${hexKey(o.key)})`;
  return `${o.kind} ${o.name}`;
}

/** An error as one line: ours as they are, a system error with its code, anything else named. */
export function oneLine(e: unknown): string {
  if (e instanceof CliError) return e.message;
  if (e instanceof IpcError) {
    const hint = e.code === "EPERM" || e.code === "EACCES"
      ? " — permission denied: only the owner, the creator or root may do this"
      : "";
    return `${e.message}${hint}`;
  }
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

// ---------------------------------------------------------------------------
// reap
// ---------------------------------------------------------------------------

/** `sysipc reap`: lists stale objects; with `yes`, removes them. */
export function reap(io: Output, olderThan: number, yes: boolean, json: boolean): number {
  const scan = scanHolders();
  const stale = staleIn(olderThan, Date.now(), scan);
  // Processes that could not be looked into keep what they might use.
  const blind = scan.unscanned.map(({ pid, uid }) => ({ pid, uid }));
  const removed: StaleObject[] = [];
  let failed = 0;
  if (yes) {
    // Look again just before removing: only what is stale in both looks goes,
    // so an object attached or opened in between is kept.
    const again = new Set(staleIn(olderThan, Date.now()).map((s) => s.identity));
    for (const s of stale) {
      if (!again.has(s.identity)) continue;
      try {
        removeObject(s.object);
        removed.push(s);
        if (!json) io.out(`removed ${describe(s.object)}: ${s.reason}, idle ${age(s.idleMs)}\n`);
      } catch (e) {
        failed++;
        io.err(`sysipc reap: ${oneLine(e)}\n`);
      }
    }
  }
  if (json) {
    const doc = {
      schema: JSON_SCHEMA,
      stale: staleJson(stale),
      removed: staleJson(removed),
      unscanned: blind,
    };
    io.out(JSON.stringify(doc, null, 2) + "\n");
    return failed ? 1 : 0;
  }
  if (stale.length === 0) io.out(`Nothing stale (idle for ${age(olderThan)} or more).\n`);
  else if (!yes) {
    io.out(staleTable(io, stale));
    const n = stale.length;
    io.out(
      `${n} stale object${n === 1 ? "" : "s"}; run with --yes to remove ${
        n === 1 ? "it" : "them"
      }.\n`,
    );
  }
  if (blind.length) {
    const who = blind.slice(0, 5).map((p) => `${p.pid} (uid ${p.uid})`).join(", ");
    const more = blind.length > 5 ? `, … ${blind.length - 5} more` : "";
    io.out(
      paint(
        io.color,
        "dim",
        `Could not look into process${blind.length > 1 ? "es" : ""} ${who}${more}: POSIX objects ${
          blind.length > 1 ? "they" : "it"
        } could be using were kept.`,
      ) + "\n",
    );
  }
  return failed ? 1 : 0;
}

function staleJson(list: StaleObject[]) {
  return list.map((s) => ({ object: s.object, reason: s.reason, idleMs: s.idleMs }));
}

function staleTable(io: Output, stale: StaleObject[]): string {
  return table(
    ["KIND", "ID/NAME", "OWNER", "SIZE", "IDLE", "WHY"],
    stale.map(({ object: o, reason, idleMs }) => [
      o.kind,
      label(o),
      o.user,
      "size" in o && o.kind !== "posix-sem" ? size(o.size) : "-",
      age(idleMs),
      reason,
    ]),
    ["left", "left", "left", "right", "right", "left"],
    io.color,
  );
}

// ---------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------

/** Usage above this share of a limit gets a warning. */
const WARN_AT = 0.8;

/** `sysipc limits`. */
export function limits(io: Output, json: boolean): number {
  const { limits: list, mqueueMount: mount } = readLimits();
  const warnings: { resource: string; message: string; fix: string }[] = [];
  for (const l of list) {
    if (l.used === null || l.limit <= 0 || l.used / l.limit <= WARN_AT) continue;
    warnings.push({
      resource: l.resource,
      message: `${l.resource} at ${percent(l)} (${l.used} of ${l.limit} ${l.unit})`,
      fix: raise(l, list),
    });
  }
  if (mount === null) {
    warnings.push({
      resource: "MQUEUE_MOUNT",
      message: "no mqueue file system is mounted: POSIX queues work but nothing can list them",
      fix: "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue",
    });
  }
  if (json) {
    const rows = list.map((l) => ({
      ...l,
      percent: l.used === null ? null : round2(100 * l.used / l.limit),
    }));
    io.out(
      JSON.stringify({ schema: JSON_SCHEMA, limits: rows, mqueueMount: mount, warnings }, null, 2) +
        "\n",
    );
    return 0;
  }
  const fmt = (l: IpcLimit, n: number) =>
    l.unit === "bytes"
      ? (n >= 2 ** 62 ? "unlimited" : size(n))
      : (n >= 2 ** 62 ? "unlimited" : String(n));
  io.out(table(
    ["RESOURCE", "DESCRIPTION", "LIMIT", "USED", "USE%"],
    list.map((l) => [
      l.resource,
      l.description,
      fmt(l, l.limit),
      l.used === null ? "-" : fmt(l, l.used),
      l.used === null ? "-" : percent(l),
    ]),
    ["left", "left", "right", "right", "right"],
    io.color,
  ));
  for (const w of warnings) {
    io.out(paint(io.color, "yellow", `warning: ${w.message}`) + `\n  fix: ${w.fix}\n`);
  }
  return 0;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function percent(l: IpcLimit): string {
  return `${(100 * (l.used ?? 0) / l.limit).toFixed(2)}%`;
}

/** The command that doubles a limit (or makes room above its use). */
function raise(l: IpcLimit, all: IpcLimit[]): string {
  const to = Math.max(l.limit * 2, Math.ceil((l.used ?? 0) / WARN_AT) + 1);
  const sem = /^kernel\.sem\[(\d)\]$/.exec(l.setting ?? "");
  if (sem) {
    // kernel.sem is one setting of four fields: SEMMSL SEMMNS SEMOPM SEMMNI.
    const fields = [0, 1, 2, 3].map((i) =>
      i === Number(sem[1]) ? to : all.find((x) => x.setting === `kernel.sem[${i}]`)?.limit
    );
    return `sysctl -w kernel.sem="${fields.join(" ")}"`;
  }
  if (l.setting === `mount ${SHM_DIR}`) {
    return `mount -o remount,size=${Math.ceil(to / 2 ** 20)}M ${SHM_DIR}`;
  }
  if (l.setting === "ulimit -q") return `ulimit -q ${to}`;
  return `sysctl -w ${l.setting}=${to}`;
}
