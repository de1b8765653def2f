/**
 * The wait engine every blocking operation goes through: try the call
 * synchronously without blocking → a bounded spin → wait off the JavaScript
 * thread, with a timeout, an `AbortSignal`, the handle's own cancellation
 * (dispose) and the object's removal.
 *
 * The off-thread wait is one blocking call for the whole remaining time, on
 * a thread of the library's own, which a cancellation interrupts (a signal:
 * the call fails with `EINTR`; see `_ffi/offthread.ts`). So the waiter stays
 * in the kernel's queue as long as it waits (a semaphore's `semncnt` counts
 * it), a timeout is the kernel's own, an abort takes effect within a thread
 * hop or so, and the call's errno is known.
 *
 * Measured on the project's 2-core VMs (DESIGN.md, "Async without a thread
 * hop per call" and "Spin briefly before parking"): an off-thread call costs a
 * 70–100 µs thread hop, so the uncontended case must never take one, and a
 * few tens of µs of `sched_yield()` + retry let a peer on the other core (or,
 * on one core, the peer we yield to) answer before we park.
 *
 * Threads cost memory (a Worker each: ~12 MiB on Deno, ~8 MiB on Node,
 * ~3.6 MiB on Bun), so at most {@linkcode maxBlockedWaits} waits block on
 * them at once; a wait that finds them all taken tries again after a pause
 * instead (1 ms, doubling up to {@linkcode POLL_MAX_MS}), and takes a thread
 * again as soon as one is free. Any number of waits can be pending, at
 * bounded memory; those past the limit answer a little later and are not in
 * the kernel's queue (`semncnt`) meanwhile.
 *
 * Callers keep their hot path to themselves: they make the first synchronous
 * attempt (no allocation when it succeeds), then call {@linkcode spin} and,
 * if that fails too, {@linkcode park} with a {@linkcode Waitable} that knows
 * how to try, block, and explain a deadline.
 *
 * @module
 */
import type { CallOutcome, CancellableCall } from "../_ffi/types.ts";
import { blockedCalls, envVar } from "../_ffi/mod.ts";
import { yieldCpu } from "./waiter.ts";

/** The options every waiting operation takes. */
export interface WaitOptions {
  /** Cancels the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Gives up after this many milliseconds: the promise rejects with a
   * `DOMException` named `"TimeoutError"`. `0` tries once without waiting;
   * `Infinity` (the default) waits as long as it takes.
   */
  timeout?: number;
}

/** What an attempt returns when the call would block. */
export const WOULD_BLOCK: unique symbol = Symbol("would block");
/** The type of {@linkcode WOULD_BLOCK}. */
export type WouldBlock = typeof WOULD_BLOCK;

/**
 * How many times an operation that would block yields the CPU and retries
 * before parking: at most this many tries…
 */
export const SPIN_TRIES = 64;
/** …and at most this long (µs), whatever one try costs. */
export const SPIN_MAX_US = 60;

/**
 * The bounded spin: `sched_yield()` and `attempt()` again, up to
 * {@linkcode SPIN_TRIES} times or about {@linkcode SPIN_MAX_US} µs.
 *
 * @param attempt One synchronous, non-blocking try (it throws on failure).
 * @returns The first result, or {@linkcode WOULD_BLOCK} if every try would block.
 */
export function spin<T>(attempt: () => T | WouldBlock): T | WouldBlock {
  // Reading the clock costs ~0.2 µs: only every 8 tries (the first 8 are
  // bounded by their count).
  let spinStart = 0;
  for (let i = 1; i <= SPIN_TRIES; i++) {
    yieldCpu();
    const r = attempt();
    if (r !== WOULD_BLOCK) return r;
    if ((i & 7) === 0) {
      const now = performance.now();
      if (i === 8) spinStart = now;
      else if ((now - spinStart) * 1000 > SPIN_MAX_US) break;
    }
  }
  return WOULD_BLOCK;
}

/**
 * How many waits may block on threads of the library's own at once, unless
 * the `SYSIPC_MAX_THREADS` environment variable says otherwise.
 */
export const MAX_BLOCKED_WAITS = 8;
/** The longest pause (ms) between two tries of a wait that found no thread free. */
export const POLL_MAX_MS = 20;

let blockedLimit: number | undefined;

/**
 * The most waits that block on threads of the library's own at once:
 * `SYSIPC_MAX_THREADS` (an integer from 1 to 1024), else
 * {@linkcode MAX_BLOCKED_WAITS}. Read once.
 *
 * @returns The limit.
 * @throws {RangeError} If `SYSIPC_MAX_THREADS` is set to anything else.
 */
export function maxBlockedWaits(): number {
  if (blockedLimit !== undefined) return blockedLimit;
  const text = envVar("SYSIPC_MAX_THREADS");
  if (text === undefined || text.trim() === "") return blockedLimit = MAX_BLOCKED_WAITS;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new RangeError(
      `SYSIPC_MAX_THREADS must be an integer from 1 to 1024, got ${JSON.stringify(text)}`,
    );
  }
  return blockedLimit = n;
}

/**
 * Whether every thread a wait may block on is taken: then a wait that can
 * also poll ({@linkcode park}, a FIFO writer's open) polls.
 *
 * @returns `true` when {@linkcode maxBlockedWaits} calls are blocked already.
 */
export function threadsTaken(): boolean {
  return blockedCalls() >= maxBlockedWaits();
}

/** A wait in progress, registered with its handle so a dispose can cancel it. */
export interface Parked {
  /** Set once the wait is to end: the rejection it ends with. */
  cancel?: { reason: unknown };
  /** Interrupts the blocking call in flight, if any. */
  interrupt?: () => void;
}

/**
 * Ends a parked wait with `reason` (the first reason wins): the blocking
 * call in flight is interrupted, and the wait rejects once it has returned.
 *
 * @param p The wait.
 * @param reason What it rejects with.
 */
export function cancelParked(p: Parked, reason: unknown): void {
  p.cancel ??= { reason };
  p.interrupt?.();
}

/** A blocking call in progress off the JavaScript thread (see {@linkcode Waitable.block}). */
export interface Blocking<T> {
  /**
   * The result; {@linkcode WOULD_BLOCK} when the call ended without
   * completing (its time ran out, or it was interrupted); a rejection with
   * the final error (e.g. `IpcError` EIDRM: the object was removed).
   */
  readonly done: Promise<T | WouldBlock>;
  /** Interrupts the call if it has not returned (idempotent). */
  interrupt(): void;
}

/**
 * A {@linkcode Blocking} over a `cancellable` call: its outcome turned into
 * the result by `map`, `interrupt` cancelling the call. A call with no timed
 * form of its own (`msgrcv`, `msgsnd`) gets its time limit from
 * `interruptAfter`: a timer then interrupts it like an abort would, and the
 * engine, seeing the deadline passed, reports the timeout.
 *
 * @param call The call in flight.
 * @param map Its outcome as the operation's result, {@linkcode WOULD_BLOCK}, or a throw.
 * @param interruptAfter Milliseconds until a timer interrupts it (`Infinity`: none).
 */
export function blocking<R, T>(
  call: CancellableCall<R>,
  map: (outcome: CallOutcome<R>) => T | WouldBlock,
  interruptAfter = Infinity,
): Blocking<T> {
  if (interruptAfter === Infinity) return { done: call.done.then(map), interrupt: call.cancel };
  const timer = setTimeout(call.cancel, Math.max(1, Math.ceil(interruptAfter)));
  return {
    done: call.done.finally(() => clearTimeout(timer)).then(map),
    interrupt: call.cancel,
  };
}

/** What {@linkcode park} needs from one kind of operation. */
export interface Waitable<T> {
  /**
   * One synchronous try that never blocks. Returns the result, or
   * {@linkcode WOULD_BLOCK}; throws the final error (e.g. `IpcError` EIDRM
   * once the object is gone).
   */
  attempt(): T | WouldBlock;
  /**
   * The same operation, blocking off the JavaScript thread for at most `ms`
   * milliseconds (`Infinity`: no limit), interruptible.
   */
  block(ms: number): Blocking<T>;
  /**
   * The rejection once the deadline has passed. It may look whether the
   * object still exists (a removal is reported as such, not as a timeout).
   */
  expired(): unknown;
  /**
   * The wait was cancelled just as `block()` completed: give the result back
   * (`true`, then the wait rejects with the cancellation) or keep it
   * (`false`: the operation happened, the wait resolves). Without it, a
   * late result is kept.
   */
  giveBack?(result: T): boolean;
}

/** How {@linkcode park} waits. */
export interface ParkOptions {
  /** Cancels the wait (already validated). */
  signal?: AbortSignal;
  /** Milliseconds from `start`, `Infinity` for none (already validated). */
  timeout: number;
  /** `performance.now()` when the operation began (the deadline counts from it). */
  start: number;
  /** The handle's waits, so its dispose can cancel them ({@linkcode cancelParked}). */
  waits?: Set<Parked>;
}

/**
 * Waits off the JavaScript thread with one blocking call for the time left
 * (or, while {@linkcode threadsTaken}, with tries after short pauses),
 * until the operation completes, the deadline passes, `signal` aborts, the
 * handle cancels the wait, or the call fails for good (e.g. the object was
 * removed). A call that ended early without a cancellation (another signal
 * interrupted it) is made again for the time left.
 *
 * Giving up while the call is in flight: the call may still complete. The
 * promise never rejects while owning its result: it interrupts the call,
 * waits for it to return, and if it completed, asks `giveBack()` before
 * rejecting.
 *
 * @param w The operation.
 * @param o Deadline, signal and the handle's registry of waits.
 * @returns The operation's result.
 */
export async function park<T>(w: Waitable<T>, o: ParkOptions): Promise<T> {
  const { signal, timeout, waits } = o;
  const deadline = o.start + timeout;
  const parked: Parked = {};
  const onAbort = () => cancelParked(parked, signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  waits?.add(parked);
  // A result came in: keep it, or give it back if the wait was cancelled meanwhile.
  const settle = (r: T): T => {
    if (parked.cancel === undefined || w.giveBack === undefined || !w.giveBack(r)) return r;
    throw parked.cancel.reason;
  };
  let pauseMs = 1;
  try {
    for (;;) {
      if (parked.cancel !== undefined) throw parked.cancel.reason;
      let ms = Infinity;
      if (timeout !== Infinity) {
        ms = deadline - performance.now();
        if (ms <= 0) throw w.expired();
      }
      if (threadsTaken()) {
        // No thread to block on: pause (a cancellation cuts it short), try again.
        let wake!: () => void;
        const paused = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, Math.min(pauseMs, ms)));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        parked.interrupt = wake;
        try {
          await paused;
        } finally {
          parked.interrupt = undefined;
        }
        const c = parked.cancel as Parked["cancel"]; // set by an event during the await
        if (c !== undefined) throw c.reason;
        const r = w.attempt();
        if (r !== WOULD_BLOCK) return r;
        pauseMs = Math.min(pauseMs * 2, POLL_MAX_MS);
        continue;
      }
      pauseMs = 1;
      const call = w.block(ms);
      parked.interrupt = call.interrupt;
      let r: T | WouldBlock;
      try {
        r = await call.done;
      } catch (e) {
        const c = parked.cancel as Parked["cancel"]; // set by an event during the await
        throw c !== undefined ? c.reason : e;
      } finally {
        parked.interrupt = undefined;
      }
      if (r !== WOULD_BLOCK) return settle(r);
      const c = parked.cancel as Parked["cancel"]; // set by an event during the await
      if (c !== undefined) throw c.reason; // the call failed: nothing taken
      if (timeout !== Infinity && performance.now() >= deadline) throw w.expired();
    }
  } finally {
    waits?.delete(parked);
    signal?.removeEventListener("abort", onAbort);
  }
}
