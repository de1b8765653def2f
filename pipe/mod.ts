/**
 * Anonymous pipes and child processes: `pipe()` gives two connected ends,
 * `spawn()` hands ends to a child as its stdin/stdout/stderr or as extra
 * descriptors, and `PipeEnd.fromFd()` adopts an inherited descriptor on the
 * child's side. Reads and writes are promises and web streams that never
 * block the event loop. Requires `--allow-ffi`.
 *
 * @example Parent reads what a child writes on descriptor 3
 * ```ts
 * import { pipe, spawn } from "@sysipc/sysipc/pipe";
 * const p = pipe();
 * const child = spawn("sh", { args: ["-c", "echo hello from the child >&3"], fds: { 3: p.writeEnd } });
 * p.writeEnd.close(); // only the child writes now
 * console.log(await new Response(p.readable).text()); // "hello from the child\n"
 * await child.status;
 * ```
 *
 * @module
 */
export { Pipe, pipe } from "./pipe.ts";
export type { PipeOptions } from "./pipe.ts";
export { PipeEnd } from "./pipe_end.ts";
export { Child, spawn } from "./spawn.ts";
export type { ChildStatus, DescriptorHandle, SpawnOptions, Stdio } from "./spawn.ts";
export type { SyncWaitOptions } from "../_sys/block.ts";
