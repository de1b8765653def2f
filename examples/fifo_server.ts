/**
 * The seed's named-pipe server: creates `myfifo`, opens it for reading and
 * prints every message a client writes, until every client has gone (EOF).
 * Start it first, then `fifo_client.ts` (or the seed's C client) in the same
 * directory.
 *
 *     deno run --allow-ffi examples/fifo_server.ts [PATH=./myfifo]
 *
 * @module
 */
import { mkfifo, openFifo } from "../fifo/mod.ts";
import { IpcError } from "../mod.ts";

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
    Deno.removeSync(path);
  }
  return messages;
}

if (import.meta.main) {
  await fifoServer(Deno.args[0] ?? "./myfifo");
}
