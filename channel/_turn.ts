/**
 * One side of a ring has one producer or one consumer: a channel's sends
 * (and reservations) take turns, as do its receives (and views), so that two
 * calls made at once never touch the ring together or sleep on its futex
 * word together. A `Turn` is that queue: first come, first served, with
 * `signal` and a deadline honoured while waiting in line.
 *
 * @module
 */

interface Waiter {
  grant(): void;
  fail(reason: unknown): void;
}

/** A first-come, first-served turn. */
export class Turn {
  #held = false;
  #queue: Waiter[] = [];

  /** Whether someone has the turn. */
  get held(): boolean {
    return this.#held;
  }

  /** Takes the turn if it is free. */
  tryTake(): boolean {
    if (this.#held) return false;
    this.#held = true;
    return true;
  }

  /**
   * Waits in line for the turn.
   *
   * @param signal Leaves the line: rejects with `signal.reason`.
   * @param ms Milliseconds to wait in line at most (`Infinity`: no limit).
   * @param expired The rejection once `ms` have passed.
   */
  take(signal: AbortSignal | undefined, ms: number, expired: () => unknown): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const leave = (reason: unknown) => {
        const i = this.#queue.indexOf(me);
        if (i < 0) return;
        this.#queue.splice(i, 1);
        done();
        reject(reason);
      };
      const onAbort = () => leave(signal!.reason);
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const me: Waiter = {
        grant() {
          done();
          resolve();
        },
        fail(reason) {
          done();
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (ms !== Infinity) timer = setTimeout(() => leave(expired()), Math.max(0, ms));
      this.#queue.push(me);
    });
  }

  /** Hands the turn to the next in line, or frees it. */
  give(): void {
    const next = this.#queue.shift();
    if (next) next.grant();
    else this.#held = false;
  }

  /** Rejects everyone in line with `reason`. */
  clear(reason: () => unknown): void {
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) w.fail(reason());
  }
}
