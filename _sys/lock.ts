/**
 * Internal: the held unit a semaphore's `lock()` resolves to — given back
 * once, by `release()` or at the end of a `using` block.
 *
 * @module
 */

/** A lock that calls `unlock` on its first release only. */
export class Lock implements Disposable {
  #unlock: () => void;
  #released = false;

  /** @param unlock Gives the unit back. */
  constructor(unlock: () => void) {
    this.#unlock = unlock;
  }

  /** Whether `release()` (or `[Symbol.dispose]`) has run. */
  get released(): boolean {
    return this.#released;
  }

  /** Gives the unit back; later calls do nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#unlock();
  }

  /** Same as `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
