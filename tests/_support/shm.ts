/**
 * What the shared-memory test files share: `ipcs -m` read from
 * `/proc/sysvipc/shm`, a leak check robust to other runs on the machine,
 * keys, and the child fixture.
 *
 * @module
 */
import assert from "node:assert/strict";
import { childArgv, type ChildArgvOptions } from "./runtime.ts";
import { fixture, run, startedPids } from "./children.ts";
import { ipcObjects, readProcText } from "./procfs.ts";
import { sleep } from "./timing.ts";

/**
 * Whether this runtime can detach (neuter) an `ArrayBuffer` over native
 * memory. Deno and Bun can (`ArrayBuffer.prototype.transfer`); Node 20 has no
 * `transfer()`, and `structuredClone` copies a koffi view instead of moving
 * it, so there `detach()` always takes the documented fallback: an anonymous
 * mapping over the segment, which stale views then read as zeros.
 */
export const buffersDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer ===
  "function";
/** One row of /proc/sysvipc/shm (what `ipcs -m` prints). */
export interface ShmRow {
  key: number;
  id: number;
  perms: number;
  size: number;
  cpid: number;
  lpid: number;
  nattch: number;
}

export function shmTable(): ShmRow[] {
  const rows: ShmRow[] = [];
  for (const line of (readProcText("/proc/sysvipc/shm") ?? "").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    rows.push({
      key: Number(f[0]),
      id: Number(f[1]),
      perms: parseInt(f[2], 8),
      size: Number(f[3]),
      cpid: Number(f[4]),
      lpid: Number(f[5]),
      nattch: Number(f[6]),
    });
  }
  return rows;
}

export function shmRow(id: number): ShmRow | undefined {
  return shmTable().find((r) => r.id === id);
}

/**
 * Like `assertNoIpcLeak` from `_support/leaks.ts`, but robust to other test runs on
 * the same machine (the semaphore tests run concurrently on the shared VMs
 * and their sets come and go mid-test): it compares `ipcs -m` before and
 * after `fn`, counting only segments created by this process or a process
 * the tests started (`shm_cpid`). Nothing here creates semaphores or queues.
 */
export async function assertNoShmLeak(fn: () => Promise<void> | void): Promise<void> {
  const show = (r: ShmRow) => `shm id ${r.id} key 0x${(r.key >>> 0).toString(16)} cpid ${r.cpid}`;
  const before = new Map(shmTable().map((r) => [r.id, r]));
  await fn();
  const after = new Map(shmTable().map((r) => [r.id, r]));
  const added = [...after.values()].filter((r) => !before.has(r.id) && startedPids.has(r.cpid));
  const removed = [...before.values()].filter((r) => !after.has(r.id) && startedPids.has(r.cpid));
  assert.deepEqual(
    { added: added.map(show), removed: removed.map(show) },
    { added: [], removed: [] },
    "ipcs -m changed",
  );
}

/** A key no IPC object uses now. */
export function freeKey(): number {
  const used = new Set(ipcObjects().map((o) => o.key));
  for (;;) {
    const k = 0x5000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
    if (!used.has(k)) return k;
  }
}

/** Waits until a segment with `key` exists; returns its id. */
export async function waitForKey(key: number, ms = 15000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const row = shmTable().find((r) => r.key === (key | 0));
    if (row) return row.id;
    if (Date.now() > deadline) throw new Error(`no segment with key 0x${(key >>> 0).toString(16)}`);
    await sleep(10);
  }
}

/** `ipcrm -m` on segments with `key` that a failed test may have left. */
export async function ipcrmKey(key: number): Promise<void> {
  for (const row of shmTable().filter((r) => r.key === (key | 0))) {
    await run("ipcrm", ["-m", String(row.id)]);
  }
}

/** Runs a shm_child.ts mode to completion; returns its last JSON line. */
export async function runChild(args: string[], options?: ChildArgvOptions) {
  const out = await run(...childArgv(fixture("shm_child.ts"), args, options));
  assert.equal(out.signal, null, `child killed by ${out.signal}; stderr: ${out.stderr}`);
  assert.equal(out.code, 0, `child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * Asserts that `ipcs -m` holds no segment made by this process or its
 * children that was not in `atStart` (ids), and that every segment of
 * `atStart` is still there: a test file's last test, with `atStart` taken
 * when the file loaded. Other test runs on the machine may create their own
 * segments meanwhile; those do not count.
 */
export function assertShmAsAtStart(atStart: number[]): void {
  const left = shmTable().filter((r) => !atStart.includes(r.id) && startedPids.has(r.cpid));
  assert.deepEqual(left, []);
  const gone = atStart.filter((id) => shmRow(id) === undefined);
  assert.deepEqual(gone, [], "removed nothing that was there before");
}
