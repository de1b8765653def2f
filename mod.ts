/**
 * sysipc: Linux inter-process communication for TypeScript — anonymous pipes,
 * named pipes (FIFOs), System V shared memory, semaphores and message queues,
 * and POSIX shared memory, semaphores and message queues, bound straight to libc through the runtime's FFI
 * and offered as web streams, typed arrays and promises. Each part is also
 * its own entry point: `./pipe`, `./fifo`, `./sysv`, `./posix` (and, for
 * System V shared memory or semaphores alone, `./shm` and `./sem`). Requires `--allow-ffi`.
 *
 * @example A child writes, the parent reads
 * ```ts
 * import { pipe, spawn } from "@sysipc/sysipc";
 * const p = pipe();
 * const child = spawn("echo", { args: ["hello world!"], stdout: p.writeEnd });
 * p.writeEnd.close();
 * console.log(await new Response(p.readable).text()); // "hello world!\n"
 * console.log(await child.status); // { success: true, code: 0, signal: null }
 * ```
 *
 * @module
 */
export { IpcError } from "./errors.ts";
export type { IpcErrorOptions } from "./errors.ts";
export * from "./pipe/mod.ts";
export * from "./fifo/mod.ts";
export * from "./sysv/mod.ts";
export * from "./posix/mod.ts";
export * from "./info/mod.ts";
export * from "./channel/mod.ts";
