/**
 * Internal: what the handle of every System V object that can be waited on
 * (a semaphore set, a message queue) keeps besides its own state — the id
 * and key, whether this process removed the object or disposed the handle,
 * the waits pending through it — and the one way their failures are told.
 *
 * @module
 */
import { Errno, errnoName } from "../_sys/errno.ts";
import { cancelParked, type Parked } from "../_sys/park.ts";
import { abortError, IpcError } from "../errors.ts";
import { keyHex } from "./_ipc.ts";

/**
 * Whether an errno says the object's id no longer exists: every argument is
 * validated before a call, so `EINVAL` can only mean that (after `IPC_RMID`
 * the kernel forgets the id, and later calls get `EINVAL`; only a caller
 * asleep in the kernel at the moment of removal is told `EIDRM`).
 */
export function isGone(e: number): boolean {
  return e === Errno.EIDRM || e === Errno.EINVAL;
}

/** A System V object's handle state, shared by `SetCore` and `QueueCore`. */
export class ObjectCore {
  removed = false;
  disposed = false;
  readonly waits: Set<Parked> = new Set();

  /**
   * @param id The kernel's id.
   * @param key The key (0 for IPC_PRIVATE).
   * @param noun What the object is called in messages: `"set"`, `"queue"`.
   * @param handle The public class, for messages: `"SemaphoreSet"`.
   */
  constructor(
    readonly id: number,
    readonly key: number,
    readonly noun: string,
    readonly handle: string,
  ) {}

  /** `id 5, key 0x1f2e` (the key only when it is not IPC_PRIVATE), for messages. */
  where(): string {
    return this.key === 0 ? `id ${this.id}` : `id ${this.id}, key ${keyHex(this.key)}`;
  }

  /** The house-style error for a failed call; a vanished id is reported as `EIDRM` ({@linkcode isGone}). */
  fail(what: string, syscall: string, e: number): IpcError {
    const code = isGone(e) ? Errno.EIDRM : e;
    const gone = isGone(e) ? ` (the ${this.noun} was removed)` : "";
    return new IpcError(
      `${what} (${syscall}, ${this.where()}): ${errnoName(code)}${gone}`,
      code,
      syscall,
    );
  }

  /** Throws if the handle was disposed or this process removed the object. */
  check(what: string, syscall: string): void {
    if (this.disposed) {
      throw new DOMException(
        `${what}: the ${this.handle} handle was disposed (${this.where()})`,
        "InvalidStateError",
      );
    }
    if (this.removed) throw this.fail(what, syscall, Errno.EIDRM);
  }

  /**
   * Lets go of the handle: marks it disposed and cancels every wait pending
   * through it with an `AbortError`. Idempotent.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const reason = abortError(
      `The ${this.handle} handle was disposed while waiting (${this.where()})`,
    );
    for (const w of this.waits) cancelParked(w, reason);
  }
}
