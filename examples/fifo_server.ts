/**
 * The seed's named-pipe server: creates `myfifo`, opens it for reading and
 * prints every message a client writes, until every client has gone (EOF).
 * Start it first, then `fifo_client.ts` (or the seed's C client) in the same
 * directory.
 *
 *     deno run --allow-ffi --allow-read --allow-write examples/fifo_server.ts [PATH=./myfifo]
 *     bun examples/fifo_server.ts [PATH=./myfifo]
 *     node node_modules/sysipc/examples/fifo_server.js [PATH=./myfifo]     (the npm package)
 *
 * @module
 */
import { rmSync } from "node:fs";
import { mkfifo, openFifo } from "../fifo/mod.ts";
import { IpcError } from "../mod.ts";
import { args, isMain } from "./_run.ts";

/**
 * Serves one FIFO: create it (unless it exists), read until EOF, remove it.
 *
 * @param path The FIFO's path.
 * @param log Where each message goes.
 * @returns How many reads delivered data.
 */
export async function fifoServer(
  path: string,
  log: (line: string) => void = console.log,
): Promise<number> {
  try {
    mkfifo(path, { mode: 0o644 });
  } catch (e) {
    if (!(e instanceof IpcError && e.code === "EEXIST")) throw e;
  }
  let messages = 0;
  try {
    // Waits here (without blocking the event loop) until a client opens.
    using server = await openFifo(path, "read");
    const decoder = new TextDecoder();
    const buf = new Uint8Array(127);
    for (;;) {
      const n = await server.read(buf);
      if (n === null) break; // every writer closed
      messages++;
      log(`server has got the msg:${decoder.decode(buf.subarray(0, n))}`);
    }
    log("all clients closed the FIFO, server quits");
  } finally {
    rmSync(path);
  }
  return messages;
}

if (isMain(import.meta)) {
  await fifoServer(args[0] ?? "./myfifo");
}
