/**
 * The shared readiness waiter.
 *
 * Every blocking operation in the library first tries its syscall
 * synchronously without blocking. Only when that would block does it park
 * here: all parked descriptors are watched by one `poll(2)` call running off
 * the JavaScript thread (one thread hop per wake-up, shared by everyone), and
 * an `eventfd` lets the JavaScript thread interrupt that call whenever the set
 * of watched descriptors changes. When a descriptor becomes ready its waiters
 * resolve and retry their syscall synchronously.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { Errno, errno } from "./errno.ts";
import { ipcError } from "../errors.ts";

/** poll(2) event bits. */
export const POLL = {
  IN: 0x001,
  PRI: 0x002,
  OUT: 0x004,
  ERR: 0x008,
  HUP: 0x010,
  NVAL: 0x020,
} as const;

const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

const sys = libc(
  {
    // int poll(struct pollfd *fds, nfds_t nfds, int timeout);  — off-thread twin
    poll_wait: {
      name: "poll",
      parameters: ["buffer", "u64", "i32"],
      result: "i32",
      nonblocking: true,
    },
    // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    // int eventfd(unsigned int initval, int flags);
    eventfd: { parameters: ["u32", "i32"], result: "i32" },
    // ssize_t write(int fd, const void *buf, size_t count);
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // ssize_t read(int fd, void *buf, size_t count);
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // int sched_yield(void);
    sched_yield: { parameters: [], result: "i32" },
  } as const,
);

interface Entry {
  fd: number;
  events: number;
  resolve(revents: number): void;
  reject(reason: unknown): void;
  cleanup?: () => void;
}

const entries = new Set<Entry>();
let wakeFd = -1;
let polling = false;
const one = new BigUint64Array([1n]);
const drain = new BigUint64Array(1);

function ensureWakeFd(): number {
  if (wakeFd >= 0) return wakeFd;
  const fd = sys().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw ipcError("Cannot create the readiness waiter", "eventfd", errno());
  wakeFd = fd;
  return fd;
}

/** Interrupts a running off-thread poll so it picks up a changed set. */
function wake(): void {
  if (polling) sys().write(wakeFd, one, 8);
}

async function loop(): Promise<void> {
  polling = true;
  try {
    while (entries.size > 0) {
      // One pollfd per distinct descriptor, plus the eventfd first. The
      // round's results are for these entries only: one added meanwhile may
      // watch a new descriptor under a number that was closed during the
      // round (its NVAL is not the new one's).
      const round = [...entries];
      const byFd = new Map<number, number>();
      for (const e of round) byFd.set(e.fd, (byFd.get(e.fd) ?? 0) | e.events);
      const n = byFd.size + 1;
      const buf = new ArrayBuffer(8 * n);
      const dv = new DataView(buf);
      dv.setInt32(0, wakeFd, true);
      dv.setInt16(4, POLL.IN, true);
      let i = 1;
      for (const [fd, ev] of byFd) {
        dv.setInt32(8 * i, fd, true);
        dv.setInt16(8 * i + 4, ev, true);
        i++;
      }
      const r = await sys().poll_wait(new Uint8Array(buf), BigInt(n), -1);
      // errno is lost after an off-thread call; a negative result can only be
      // EINTR or ENOMEM here, and both are answered by polling again.
      if (r <= 0) continue;
      if (dv.getInt16(6, true) !== 0) sys().read(wakeFd, drain, 8);
      for (let k = 1; k < n; k++) {
        const revents = dv.getInt16(8 * k + 6, true);
        if (revents === 0) continue;
        const fd = dv.getInt32(8 * k, true);
        for (const e of round) {
          if (e.fd !== fd || !entries.has(e)) continue;
          // HUP, ERR and NVAL are always reported: they wake everyone on the fd.
          if ((revents & (e.events | POLL.HUP | POLL.ERR | POLL.NVAL)) === 0) continue;
          entries.delete(e);
          e.cleanup?.();
          e.resolve(revents);
        }
      }
    }
  } finally {
    polling = false;
  }
}

/**
 * Resolves once `fd` reports one of `events` (or HUP/ERR/NVAL), with the
 * reported `revents`. Rejects with `signal.reason` when `signal` aborts.
 *
 * @param fd The descriptor to watch.
 * @param events `POLL.IN`, `POLL.OUT`, or both.
 * @param signal Cancels the wait.
 */
export function waitReady(fd: number, events: number, signal?: AbortSignal): Promise<number> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  ensureWakeFd();
  return new Promise<number>((resolve, reject) => {
    const entry: Entry = { fd, events, resolve, reject };
    if (signal) {
      const onAbort = () => {
        if (!entries.delete(entry)) return;
        wake();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      entry.cleanup = () => signal.removeEventListener("abort", onAbort);
    }
    entries.add(entry);
    if (polling) wake();
    else void loop();
  });
}

/**
 * Rejects every wait on `fd` with `reason` (call before closing `fd`, so a
 * reused descriptor number never wakes a stale waiter).
 *
 * @param fd The descriptor about to be closed.
 * @param reason The rejection.
 */
export function cancelWaits(fd: number, reason: unknown): void {
  let any = false;
  for (const e of [...entries]) {
    if (e.fd !== fd) continue;
    entries.delete(e);
    e.cleanup?.();
    e.reject(reason);
    any = true;
  }
  if (any) wake();
}

/**
 * Checks readiness without waiting: the `revents` of a zero-timeout poll.
 *
 * @param fd The descriptor.
 * @param events The events of interest.
 */
export function pollNow(fd: number, events: number): number {
  const pfd = new ArrayBuffer(8);
  const dv = new DataView(pfd);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, events, true);
  for (;;) {
    const r = sys().poll(new Uint8Array(pfd), 1n, 0);
    if (r >= 0) return r === 0 ? 0 : dv.getInt16(6, true);
    const e = errno();
    if (e !== Errno.EINTR) throw ipcError("Cannot poll descriptor", "poll", e, `fd ${fd}`);
  }
}

/** Gives the CPU to another runnable thread or process (the bounded spin before parking). */
export function yieldCpu(): void {
  sys().sched_yield();
}
