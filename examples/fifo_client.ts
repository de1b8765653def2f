/**
 * The seed's named-pipe client: opens the server's `myfifo` for writing and
 * sends "hello world" once per interval.
 *
 *     deno run --allow-ffi examples/fifo_client.ts [PATH=./myfifo] [COUNT=5] [INTERVAL_MS=1000]
 *     bun examples/fifo_client.ts [PATH=./myfifo] [COUNT=5] [INTERVAL_MS=1000]
 *     node node_modules/sysipc/examples/fifo_client.js [PATH=./myfifo] …     (the npm package)
 *
 * @module
 */
import { openFifo } from "../fifo/mod.ts";
import { args, isMain } from "./_run.ts";

/**
 * Writes `count` messages into the FIFO at `path`.
 *
 * @param path The FIFO the server created.
 * @param count How many messages.
 * @param intervalMs Pause between messages.
 * @param log Where progress lines go.
 */
export async function fifoClient(
  path: string,
  count: number,
  intervalMs: number,
  log: (line: string) => void = console.log,
): Promise<void> {
  // Waits until the server has the FIFO open for reading.
  using client = await openFifo(path, "write");
  const msg = new TextEncoder().encode("hello world\n");
  for (let i = 0; i < count; i++) {
    await client.write(msg);
    log("client has wrote the msg!");
    if (i + 1 < count) await new Promise((r) => setTimeout(r, intervalMs));
  }
}

if (isMain(import.meta)) {
  const [path = "./myfifo", count = "5", interval = "1000"] = args;
  await fifoClient(path, Number(count), Number(interval));
}
