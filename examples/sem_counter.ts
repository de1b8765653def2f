/**
 * 信号量 P/V, 临界区: N processes each add 1 to one counter in shared memory,
 * M times, inside a critical section guarded by a semaphore
 * (`using _ = await mutex.lock()`, P on entry and V on exit, with `SEM_UNDO`
 * so that a process killed inside the section does not leave it locked).
 * The result is exactly N × M. Run it with `--no-lock` to watch updates get
 * lost: the counter is a plain read-modify-write, and every process yields
 * the CPU between the read and the write.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/sem_counter.ts [PROCESSES=4] [INCREMENTS=2000] [--no-lock]
 *     bun examples/sem_counter.ts [PROCESSES=4] [INCREMENTS=2000] [--no-lock]
 *     node node_modules/sysipc/examples/sem_counter.js [PROCESSES=4] …     (the npm package)
 *
 * Every child waits at a gate (a second semaphore, initially 0) until the
 * parent has started them all and opens it with one `release(N)`, so they
 * really run at the same time.
 *
 * @module
 */
import { SemaphoreSet, SharedMemory } from "../sysv/mod.ts";
import { type ChildStatus, spawn } from "../pipe/mod.ts";
import { args, type Command, isMain, selfCommand } from "./_run.ts";

const MUTEX = 0;
const GATE = 1;

/** What {@linkcode semCounter} measured. */
export interface CounterResult {
  /** The counter's final value. */
  total: number;
  /** `processes × increments`. */
  expected: number;
  /** How long the children took, from the gate opening to the last exit. */
  ms: number;
}

/** Options for {@linkcode semCounter}. */
export interface CounterOptions {
  /** How many child processes (default 4). */
  processes?: number;
  /** Increments per child (default 2000). */
  increments?: number;
  /** Guard the increment with the semaphore (default `true`). */
  lock?: boolean;
  /** Where progress lines go. */
  log?: (line: string) => void;
  /**
   * How to start child number `index` with these arguments (the first is
   * `"child"`). Default: this file again, in this runtime. The children need
   * not be of one runtime: the cross-runtime tests mix Deno, Node and Bun.
   */
  launch?: (args: string[], index: number) => Command;
}

/**
 * The parent: make the counter and the semaphores, start the children, open
 * the gate, wait for them, read the counter, remove everything.
 *
 * @param options Processes, increments, whether to lock, and a log.
 * @returns The final counter and what it should be.
 */
export async function semCounter(options: CounterOptions = {}): Promise<CounterResult> {
  const { processes = 4, increments = 2000, lock = true, log = console.log } = options;
  const launch = options.launch ?? ((a: string[]) => selfCommand(import.meta.url, a));
  using shm = SharedMemory.create({ size: 8 }); // IPC_PRIVATE: the children get the id
  using set = SemaphoreSet.create({ count: 2, initial: [1, 0] }); // mutex = 1, gate = 0
  try {
    const counter = shm.view(Int32Array, 0, 1);
    const children = [];
    for (let i = 0; i < processes; i++) {
      const c = launch(
        ["child", String(shm.id), String(set.id), String(increments), lock ? "lock" : "no-lock"],
        i,
      );
      children.push(spawn(c.command, { args: c.args }));
    }
    // Wait until every child is parked at the gate, then let them all go at once.
    let exited = 0;
    for (const c of children) c.status.then(() => exited++);
    while (set.at(GATE).waitingForIncrease < processes) {
      if (exited > 0) throw new Error("A child exited before reaching the gate");
      await new Promise((r) => setTimeout(r, 5));
    }
    log(`${processes} processes × ${increments} increments, ${lock ? "with" : "WITHOUT"} the lock`);
    const t0 = performance.now();
    set.at(GATE).release(processes);
    const statuses = await Promise.all(children.map((c) => c.status));
    const ms = performance.now() - t0;
    return counterResult(statuses, counter[0], processes * increments, ms, log);
  } finally {
    shm.remove();
    set.remove();
  }
}

/**
 * A child: wait at the gate, then add 1 to the counter `increments` times,
 * yielding the CPU between reading and writing it.
 *
 * @param shmId The counter's segment.
 * @param semId The semaphore set (0 = mutex, 1 = gate).
 * @param increments How many times.
 * @param lock Whether to take the mutex around each increment.
 */
export async function child(shmId: number, semId: number, increments: number, lock: boolean) {
  using shm = SharedMemory.fromId(shmId);
  const set = SemaphoreSet.fromId(semId);
  const counter = shm.view(Int32Array, 0, 1);
  const mutex = set.at(MUTEX);
  await set.at(GATE).acquire();
  // P … V, undone by the kernel if we die inside (SEM_UNDO)
  await addOneEach(counter, increments, lock ? () => mutex.lock() : undefined);
}

/**
 * How a counter demo ends, for both of them: fails if a child failed,
 * otherwise logs and returns the counter against what it should be.
 *
 * @param statuses How the children ended.
 * @param total The counter's final value.
 * @param expected `processes × increments`.
 * @param ms How long the children took.
 * @param log Where the result line goes.
 */
export function counterResult(
  statuses: readonly ChildStatus[],
  total: number,
  expected: number,
  ms: number,
  log: (line: string) => void,
): CounterResult {
  const failed = statuses.filter((s) => !s.success);
  if (failed.length > 0) {
    throw new Error(`${failed.length} children failed: ${JSON.stringify(failed)}`);
  }
  log(
    `counter = ${total}, expected ${expected}` +
      (total === expected ? "" : ` — ${expected - total} updates lost`) +
      ` (${ms.toFixed(0)} ms)`,
  );
  return { total, expected, ms };
}

/**
 * The critical section both counter demos run: `increments` times, read the
 * counter, give the CPU away, write it back plus one — inside `lock()` when
 * one is given, so no update is lost; without, many are.
 *
 * @param counter The shared counter (one Int32).
 * @param increments How many times.
 * @param lock Takes the lock; the lock's dispose gives it back.
 */
export async function addOneEach(
  counter: Int32Array,
  increments: number,
  lock?: () => Promise<Disposable>,
): Promise<void> {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < increments; i++) {
    using _ = lock === undefined ? undefined : await lock();
    const v = counter[0];
    Atomics.wait(nap, 0, 0, 0.02); // give the CPU away inside the critical section
    counter[0] = v + 1;
  }
}

if (isMain(import.meta)) {
  if (args[0] === "child") {
    const [, shmId, semId, n, how] = args;
    await child(Number(shmId), Number(semId), Number(n), how === "lock");
  } else {
    const flags = args.filter((a) => a.startsWith("--"));
    const [processes = "4", increments = "2000"] = args.filter((a) => !a.startsWith("--"));
    await semCounter({
      processes: Number(processes),
      increments: Number(increments),
      lock: !flags.includes("--no-lock"),
    });
  }
}
