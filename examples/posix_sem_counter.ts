/**
 * 信号量 P/V, 临界区, with POSIX: N processes each add 1 to one counter in
 * POSIX shared memory, M times, inside a critical section guarded by a named
 * POSIX semaphore (`using _ = await mutex.lock()`). The result is exactly
 * N × M. With `--no-lock`, updates get lost: the counter is a plain
 * read-modify-write, and every process yields the CPU between the read and
 * the write.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/posix_sem_counter.ts [PROCESSES=4] [INCREMENTS=2000] [--no-lock]
 *     bun examples/posix_sem_counter.ts [PROCESSES=4] [INCREMENTS=2000] [--no-lock]
 *     node node_modules/sysipc/examples/posix_sem_counter.js [PROCESSES=4] …     (the npm package)
 *
 * The children open everything by name, say they are ready (a third
 * semaphore), and wait at a gate; the parent then unlinks every name — the
 * objects live on while the processes hold them, and nothing is left behind
 * even if one is killed — and opens the gate for all at once. Unlike the
 * System V version (`sem_counter.ts`), a child killed inside the critical
 * section would leave the mutex taken: POSIX semaphores have no undo.
 *
 * @module
 */
import { PosixSemaphore, PosixSharedMemory } from "../posix/mod.ts";
import { type Child, spawn } from "../pipe/mod.ts";
import { args, type Command, isMain, selfCommand } from "./_run.ts";
import {
  addOneEach,
  type CounterOptions,
  type CounterResult,
  counterResult,
} from "./sem_counter.ts";

/**
 * The parent: make the counter and the semaphores, start the children, wait
 * until all are ready, unlink the names, open the gate, wait for them, read
 * the counter.
 *
 * @param options Processes, increments, whether to lock, a log, and how to launch children.
 * @returns The final counter and what it should be.
 */
export async function posixSemCounter(options: CounterOptions = {}): Promise<CounterResult> {
  const { processes = 4, increments = 2000, lock = true, log = console.log } = options;
  const launch = options.launch ??
    ((a: string[]): Command => selfCommand(import.meta.url, a, ["--allow-ffi", "--allow-read"]));
  using counter = PosixSharedMemory.create({ size: 8 });
  using mutex = PosixSemaphore.create(undefined, { initial: 1 });
  using gate = PosixSemaphore.create();
  using ready = PosixSemaphore.create();
  const names = [counter, mutex, gate, ready].map((o) => o.name!);
  let unlinked = false;
  const unlinkAll = () => {
    if (unlinked) return;
    unlinked = true;
    counter.unlink();
    for (const s of [mutex, gate, ready]) s.unlink();
  };
  const children: Child[] = [];
  let gateOpen = false;
  try {
    // A child that ends before the gate opens will never say it is ready:
    // stop waiting for it at once instead of after the timeout.
    const early = new AbortController();
    for (let i = 0; i < processes; i++) {
      const c = launch(["child", ...names, String(increments), lock ? "lock" : "no-lock"], i);
      const proc = spawn(c.command, { args: c.args });
      children.push(proc);
      proc.status.then((s) => {
        if (!gateOpen) {
          early.abort(
            new Error(
              `child ${i} (pid ${proc.pid}) ended before the gate opened: ${JSON.stringify(s)}`,
            ),
          );
        }
      });
    }
    for (let i = 0; i < processes; i++) {
      await ready.acquire({ timeout: 30_000, signal: early.signal });
    }
    unlinkAll(); // every child holds what it needs: no name is left, whatever happens now
    log(`${processes} processes × ${increments} increments, ${lock ? "with" : "WITHOUT"} the lock`);
    const t0 = performance.now();
    gateOpen = true;
    for (let i = 0; i < processes; i++) gate.release();
    const statuses = await Promise.all(children.map((c) => c.status));
    const ms = performance.now() - t0;
    const total = counter.view(Int32Array, 0, 1)[0];
    return counterResult(statuses, total, processes * increments, ms, log);
  } catch (e) {
    if (!gateOpen) {
      // The children already started wait at the gate, which no one will
      // open now (and whose name may be gone): end them, and reap them.
      for (const c of children) {
        try {
          c.kill();
        } catch { /* it has ended already */ }
      }
      await Promise.all(children.map((c) => c.status));
    }
    throw e;
  } finally {
    unlinkAll();
  }
}

/**
 * A child: open the counter and the semaphores by name, report ready, wait
 * at the gate, then add 1 to the counter `increments` times, yielding the
 * CPU between reading and writing it.
 */
export async function child(
  counterName: string,
  mutexName: string,
  gateName: string,
  readyName: string,
  increments: number,
  lock: boolean,
): Promise<void> {
  using mem = PosixSharedMemory.open(counterName);
  using mutex = PosixSemaphore.open(mutexName);
  using gate = PosixSemaphore.open(gateName);
  {
    using ready = PosixSemaphore.open(readyName);
    ready.release();
  }
  const counter = mem.view(Int32Array, 0, 1);
  await gate.acquire({ timeout: 30_000 });
  // P … V — not undone if we die inside: POSIX semaphores have no undo
  await addOneEach(counter, increments, lock ? () => mutex.lock({ timeout: 60_000 }) : undefined);
}

if (isMain(import.meta)) {
  if (args[0] === "child") {
    const [, counter, mutex, gate, ready, n, how] = args;
    await child(counter, mutex, gate, ready, Number(n), how === "lock");
  } else {
    const flags = args.filter((a) => a.startsWith("--"));
    const [processes = "4", increments = "2000"] = args.filter((a) => !a.startsWith("--"));
    await posixSemCounter({
      processes: Number(processes),
      increments: Number(increments),
      lock: !flags.includes("--no-lock"),
    });
  }
}
