/**
 * The leak checks that stand in for Deno's sanitizers on Node.js and Bun (and
 * add to them on Deno): a test wrapped in {@linkcode assertNoFdLeak} must
 * leave this process's open descriptors as it found them, one wrapped in
 * {@linkcode assertNoIpcLeak} must leave `ipcs` as it found it.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { pipe, SemaphoreSet } from "./lib.ts";
import { fdTable, type IpcObject, ipcObjects, threadCount } from "./procfs.ts";
import { runtimeName } from "./runtime.ts";
import { sleep, until } from "./timing.ts";

/**
 * The descriptors of one Worker's event loop, on every runtime (the library
 * waits off-thread on a pool of Workers of its own): Node has an epoll, an
 * eventfd and a self-pipe (both ends) per Worker; Bun an epoll and an
 * eventfd; Deno (whose `node:worker_threads` Workers the pool uses) two
 * epolls, an eventfd, a socket and copies of two descriptors the process
 * already has (its original stdout and stderr, which `deno test` keeps
 * elsewhere while it captures output): `copies` are descriptors whose file
 * a lower-numbered descriptor also has.
 * Which Workers the pool keeps idle can change when more calls wait at once
 * than it keeps (it starts more, then lets the surplus go), so these are
 * counted rather than compared by number.
 */
const WORKER_FDS = runtimeName === "node"
  ? { eventpoll: 1, eventfd: 1, pipePairs: 1, sockets: 0, copies: 0, ioUring: nodeIoUring() }
  : runtimeName === "bun"
  ? { eventpoll: 1, eventfd: 1, pipePairs: 0, sockets: 0, copies: 0, ioUring: 0 }
  : { eventpoll: 2, eventfd: 1, pipePairs: 0, sockets: 1, copies: 2, ioUring: 0 };

/**
 * The io_uring instance each Node.js Worker's event loop sets up (libuv ≥
 * 1.45: Node 22, 24 and 26, checked; none where `UV_USE_IO_URING=0`).
 */
function nodeIoUring(): number {
  if (process.env.UV_USE_IO_URING === "0") return 0;
  return Number(process.versions.node?.split(".")[0]) >= 22 ? 1 : 0;
}

/**
 * What is counted rather than compared by number: epolls, eventfds, pipes of
 * which this process holds both ends and nothing else (Node's Worker
 * self-pipes), sockets, copies (see above) and io_uring instances.
 */
type Counted = "eventpoll" | "eventfd" | "pipePairs" | "sockets" | "copies" | "ioUring";

interface FdSummary extends Record<Counted, number> {
  /** `"fd target"` of every descriptor compared exactly. */
  exact: Set<string>;
}

function summarize(table: Map<number, string>): FdSummary {
  const s: FdSummary = {
    exact: new Set(),
    eventpoll: 0,
    eventfd: 0,
    pipePairs: 0,
    sockets: 0,
    copies: 0,
    ioUring: 0,
  };
  const seen = new Set<string>();
  const pipes = new Map<string, number[]>();
  for (const [fd, target] of table) {
    if (target === "anon_inode:[eventpoll]") s.eventpoll++;
    else if (target === "anon_inode:[eventfd]") s.eventfd++;
    else if (WORKER_FDS.ioUring && target === "anon_inode:[io_uring]") s.ioUring++;
    else if (WORKER_FDS.sockets && target.startsWith("socket:")) s.sockets++;
    else if (WORKER_FDS.copies && seen.has(target)) s.copies++;
    else if (WORKER_FDS.pipePairs && target.startsWith("pipe:")) {
      pipes.set(target, [...pipes.get(target) ?? [], fd]);
    } else s.exact.add(`${fd} ${target}`);
    seen.add(target);
  }
  for (const [target, fds] of pipes) {
    if (fds.length === 2) s.pipePairs++;
    else for (const fd of fds) s.exact.add(`${fd} ${target}`);
  }
  return s;
}

/**
 * How `after` differs from `before` (empty: the same), and whether the
 * difference is nothing but whole Workers that have yet to exit.
 */
function fdDiff(before: FdSummary, after: FdSummary): { lines: string[]; workers: boolean } {
  const lines = [
    ...[...after.exact].filter((x) => !before.exact.has(x)).map((x) => `+ fd ${x}`),
    ...[...before.exact].filter((x) => !after.exact.has(x)).map((x) => `- fd ${x}`),
  ];
  const exactSame = lines.length === 0;
  const counted = Object.keys(WORKER_FDS) as Counted[];
  const d = Object.fromEntries(counted.map((k) => [k, after[k] - before[k]])) as Record<
    Counted,
    number
  >;
  for (const k of counted) {
    if (d[k] !== 0) lines.push(`${k}: ${before[k]} before, ${after[k]} after`);
  }
  // Whole Workers: the same number of each kind of Worker descriptor.
  const n = d.eventpoll / WORKER_FDS.eventpoll;
  const workers = exactSame && Number.isInteger(n) && n > 0 &&
    counted.every((k) => d[k] === n * WORKER_FDS[k]);
  return { lines, workers };
}

/**
 * Asserts that `fn` leaves the open descriptors as it found them: the same
 * numbers, each still the same pipe, file or kernel object (the off-thread
 * Workers' own kinds of descriptor are counted instead, see `WORKER_FDS`).
 * Only surplus Workers get time (up to a second, while the thread count is
 * above what it was) to go away; any other difference fails at once, before
 * a finalizer could close a leaked descriptor behind the test's back.
 */
export async function assertNoFdLeak(fn: () => Promise<void> | void): Promise<void> {
  await warmUpWaiter();
  const threads = threadCount();
  const before = summarize(fdTable());
  await fn();
  // Surplus Workers (more waits at once than the pool keeps) exit on their
  // own; a descriptor snapshot taken while one is closing its loop is torn.
  for (let i = 0; i < 50 && threadCount() > threads; i++) await sleep(20);
  let diff = fdDiff(before, summarize(fdTable()));
  for (let i = 0; i < 50 && diff.workers; i++) {
    await sleep(20);
    diff = fdDiff(before, summarize(fdTable()));
  }
  assert.deepEqual(diff.lines, [], `open descriptors changed:\n${diff.lines.join("\n")}`);
}

let warm = false;

/**
 * Makes the library's lazily opened descriptors exist before a snapshot: the
 * readiness waiter's eventfd (opened once per process, the first time
 * anything waits) and the off-thread pool's Workers (each with its own event
 * loop's descriptors; the pool keeps 4 idle ones). Four
 * semaphore waits at once park in four Workers; a pipe read parks on the
 * shared waiter.
 */
async function warmUpWaiter(): Promise<void> {
  if (!warm) {
    const set = SemaphoreSet.create();
    try {
      const sem = set.at(0);
      const waits = Array.from({ length: 4 }, () => sem.acquire({ timeout: 10_000 }));
      await until("4 warm-up waits are parked", () => sem.waitingForIncrease === 4);
      sem.release(4);
      await Promise.all(waits);
    } finally {
      set.remove();
    }
    warm = true;
  }
  using p = pipe();
  const r = p.readEnd.read(new Uint8Array(1));
  await sleep(5);
  await p.writeEnd.write(new Uint8Array(1));
  await r;
}

/**
 * Asserts that `fn` leaves `ipcs` as it found it: no segment, semaphore set
 * or queue created and left behind, none removed that existed before.
 * (Other programs creating IPC objects at the same time would disturb this;
 * each suite runs its files one after another.)
 */
export async function assertNoIpcLeak(fn: () => Promise<void> | void): Promise<void> {
  const show = (o: IpcObject) => `${o.kind} id ${o.id} key 0x${(o.key >>> 0).toString(16)}`;
  const before = new Set(ipcObjects().map(show));
  await fn();
  const after = new Set(ipcObjects().map(show));
  const added = [...after].filter((x) => !before.has(x));
  const removed = [...before].filter((x) => !after.has(x));
  assert.deepEqual({ added, removed }, { added: [], removed: [] }, "ipcs changed");
}

/** Both leak checks: descriptors and `ipcs`. */
export async function assertNoLeaks(fn: () => Promise<void> | void): Promise<void> {
  await assertNoFdLeak(() => assertNoIpcLeak(fn));
}

/**
 * Runs `fn` on a new semaphore set (made with `options`) under both leak
 * checks, and removes the set afterwards whatever `fn` does.
 */
export function withNewSet(
  options: Parameters<typeof SemaphoreSet.create>[0],
  fn: (set: SemaphoreSet) => Promise<void> | void,
): Promise<void> {
  return assertNoLeaks(async () => {
    using set = SemaphoreSet.create(options);
    try {
      await fn(set);
    } finally {
      set.remove();
    }
  });
}
