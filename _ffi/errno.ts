/**
 * Reading `errno` right after a synchronous call.
 *
 * errno is thread-local: the value is only meaningful when read on the same
 * thread, immediately after the call, before any other libc call. Synchronous
 * FFI calls run on the JavaScript thread, whose errno slot never moves, so its
 * address is looked up once. After a `nonblocking` (off-thread) call errno is
 * lost; those paths decide from the return value and a synchronous follow-up.
 *
 * @module
 */
import { getBackend, libc } from "./runtime.ts";
import type { Pointer } from "./types.ts";

const sys = libc(
  {
    // int *__errno_location(void);
    __errno_location: { parameters: [], result: "pointer" },
  } as const,
);

let slot: Int32Array | undefined;

/** The calling thread's current errno. */
export function errno(): number {
  if (slot === undefined) {
    // A 4-byte view over this thread's errno: reading it is then a plain
    // memory load, with no FFI call that could itself disturb errno. Each
    // Worker has its own copy of this module, so its own slot.
    const p: Pointer = sys().__errno_location();
    slot = new Int32Array(getBackend().arrayBufferAt(p, 4));
  }
  return slot[0];
}
