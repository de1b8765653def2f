/**
 * Where another process's threads are blocked, and signals aimed at them —
 * for the fault tests: `/proc/<pid>/task/<tid>/syscall` names the system call
 * a sleeping thread is in, `SigPnd`/`ShdPnd` in its status whether a signal
 * is still pending. Reading another process's `syscall` file needs the right
 * to trace it (our own children, or root).
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { setImmediate } from "node:timers";
import { libc, listDir, readText } from "./lib.ts";
import { isZombie } from "./procfs.ts";
import { sleep } from "./timing.ts";

const sys = libc(
  {
    // int kill(pid_t pid, int sig);
    kill: { parameters: ["i32", "i32"], result: "i32" },
    // int tgkill(pid_t tgid, pid_t tid, int sig);
    tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
  } as const,
);
const SIGUSR1 = 10, SIGUSR2 = 12;

/** The blocking system calls, by what the library blocks in (x86-64, aarch64). */
const SYSCALLS: Record<string, Record<string, number[]>> = {
  x64: {
    semop: [220, 65],
    msgrcv: [70],
    msgsnd: [69],
    futex: [202],
    poll: [7, 271],
    open: [257, 2],
    read: [0],
  },
  arm64: {
    semop: [192, 193],
    msgrcv: [188],
    msgsnd: [189],
    futex: [98],
    poll: [73],
    open: [56],
    read: [63],
  },
};
export type Blocker = "semop" | "msgrcv" | "msgsnd" | "futex" | "poll" | "open" | "read";

/**
 * A thread of `pid` blocked in `what` (`/proc/<pid>/task/<tid>/syscall`
 * names the call a sleeping thread is in), or `undefined`. A futex wait
 * counts only if shared (a process-shared semaphore): the runtimes' own
 * futexes are private.
 */
export function blockedThread(pid: number, what: Blocker): number | undefined {
  return blockedThreads(pid, what)[0];
}

/** Every thread of `pid` blocked in `what` (see {@linkcode blockedThread}). */
export function blockedThreads(pid: number, what: Blocker): number[] {
  const numbers = SYSCALLS[process.arch]?.[what];
  if (numbers === undefined) throw new Error(`no system call table for ${process.arch}`);
  const tids: number[] = [];
  for (const tid of listDir(`/proc/${pid}/task`) ?? []) {
    const f = (readText(`/proc/${pid}/task/${tid}/syscall`) ?? "").split(" ");
    if (!numbers.includes(Number(f[0]))) continue;
    if (what === "futex" && (Number(f[2]) & 0x80) !== 0) continue; // FUTEX_PRIVATE_FLAG
    tids.push(Number(tid));
  }
  return tids;
}

/** Whether `signo` is pending for thread `tid` or for the whole process. */
function pending(pid: number, tid: number, signo: number): boolean {
  const bit = 1n << BigInt(signo - 1);
  const mask = (path: string, field: string) => {
    const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(readText(path) ?? "")?.[1];
    return hex === undefined ? 0n : BigInt(`0x${hex}`);
  };
  return ((mask(`/proc/${pid}/task/${tid}/status`, "SigPnd") |
    mask(`/proc/${pid}/status`, "ShdPnd")) & bit) !== 0n;
}

/**
 * Polls `f` until it returns a value: a few quick turns first (a signal is
 * delivered within microseconds), then every millisecond, up to `ms`.
 */
async function poll<T>(what: () => string, f: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0;; i++) {
    const r = f();
    if (r !== undefined) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what()}`);
    if (i < 20) await new Promise((r) => setImmediate(r));
    else await sleep(1);
  }
}

/**
 * Sends `count` signals to `pid` while it is blocked in `what`: each one
 * waits until a thread is blocked in that call again, then goes, in turn, as
 * SIGUSR1 to that thread (`tgkill`: the call is interrupted), as SIGUSR1 to
 * the process (`kill`: whichever thread the kernel picks), and as SIGUSR2
 * (a handler without SA_RESTART: EINTR even where SIGUSR1's is restarted) to
 * that thread, and waits until it has been delivered, so none merges with
 * the next.
 */
export async function signalStorm(pid: number, what: Blocker, count = 1000): Promise<void> {
  for (let i = 0; i < count; i++) {
    const tid = await poll(
      () => `pid ${pid} is blocked in ${what} again (after ${i} signals)`,
      () => {
        if (isZombie(pid) || readText(`/proc/${pid}/stat`) === undefined) {
          throw new Error(`pid ${pid} exited after ${i} signals`);
        }
        return blockedThread(pid, what);
      },
    );
    const signo = i % 3 === 2 ? SIGUSR2 : SIGUSR1;
    const r = i % 3 === 1 ? sys().kill(pid, signo) : sys().tgkill(pid, tid, signo);
    assert.equal(r, 0, `signal ${i} could not be sent`);
    await poll(
      () => `signal ${i} to pid ${pid} is delivered`,
      () => pending(pid, tid, signo) ? undefined : true,
    );
  }
}
