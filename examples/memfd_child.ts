/**
 * Anonymous shared memory handed to a child: the parent makes memory with no
 * name anywhere (`memfd_create`), gives the child its descriptor as fd 3
 * (`spawn(…, { fds: { 3: mem } })`), and reads what the child wrote into it
 * once the child has exited. Nothing appears in `/dev/shm`, and the memory is
 * gone when the last process holding it lets go.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/memfd_child.ts
 *     bun examples/memfd_child.ts
 *     node node_modules/sysipc/examples/memfd_child.js     (the npm package)
 *
 * The child may be any program that maps descriptor 3: this script again
 * (`child` mode), another runtime, or C (`mmap(NULL, size, PROT_READ |
 * PROT_WRITE, MAP_SHARED, 3, 0)`). Name a command after the script to run
 * it, with `child` appended, as the child — e.g. a Bun child of Deno:
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/memfd_child.ts bun examples/memfd_child.ts
 *
 * @module
 */
import { PosixSharedMemory } from "../posix/mod.ts";
import { spawn } from "../pipe/mod.ts";
import { args, type Command, isMain, selfCommand } from "./_run.ts";
import process from "node:process";

/** Where the child puts its pid (an Int32) and its message (UTF-8, NUL-terminated). */
const PID_AT = 0;
const TEXT_AT = 8;

/** What {@linkcode memfdChild} read back. */
export interface MemfdResult {
  /** The pid the child wrote. */
  pid: number;
  /** The message the child wrote. */
  message: string;
  /** The pid `spawn()` reported, to compare. */
  spawnedPid: number;
}

/**
 * Runs the demo.
 *
 * @param log Where progress lines go.
 * @param launch How to start the child with these arguments (default: this
 *   file in this runtime); the cross-runtime tests start Node and Bun children.
 * @returns What the child wrote, and its pid as `spawn()` saw it.
 */
export async function memfdChild(
  log: (line: string) => void = console.log,
  launch: (args: string[]) => Command = (a) => selfCommand(import.meta.url, a),
): Promise<MemfdResult> {
  using mem = PosixSharedMemory.anonymous({ size: 4096 });
  log(`anonymous memory: ${mem.size} bytes on fd ${mem.fd}, no name (memfd_create)`);
  const c = launch(["child"]);
  const child = spawn(c.command, { args: c.args, fds: { 3: mem } });
  const status = await child.status;
  if (!status.success) throw new Error(`the child failed: ${JSON.stringify(status)}`);
  const pid = mem.view(Int32Array, PID_AT, 1)[0];
  const raw = mem.read(TEXT_AT);
  const message = new TextDecoder().decode(raw.subarray(0, raw.indexOf(0)));
  log(`the child (pid ${child.pid}) wrote: "${message}"`);
  return { pid, message, spawnedPid: child.pid };
}

/** The child: adopt fd 3, write the pid and a message, exit. */
export function child(): void {
  using mem = PosixSharedMemory.fromFd(3);
  const runtime = typeof (globalThis as { Bun?: unknown }).Bun === "object"
    ? "Bun"
    : typeof (globalThis as { Deno?: unknown }).Deno === "object"
    ? "Deno"
    : "Node.js";
  mem.view(Int32Array, PID_AT, 1)[0] = process.pid;
  mem.write(`hello from ${runtime}, pid ${process.pid}\0`, TEXT_AT);
}

if (isMain(import.meta)) {
  if (args[0] === "child") child();
  else if (args.length > 0) {
    await memfdChild(console.log, (a) => ({ command: args[0], args: [...args.slice(1), ...a] }));
  } else await memfdChild();
}
