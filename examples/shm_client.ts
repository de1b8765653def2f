/**
 * The seed's shared-memory client (共享内存 client.c): attaches the server's
 * segment by the key `ftok(PATH, 1)` and writes one more letter per interval
 * — "A", "AB", "ABC", … — straight into the shared memory (no copy, no
 * system call per write). Unlike the seed it stops after COUNT letters and
 * detaches; and where the seed's `shmget(key, 4097, IPC_CREAT)` would
 * silently create a segment when no server runs, `SharedMemory.open()`
 * fails with `ENOENT`.
 *
 *     deno run --allow-ffi examples/shm_client.ts PATH [COUNT=5] [INTERVAL_MS=1000]
 *     bun examples/shm_client.ts PATH [COUNT=5] [INTERVAL_MS=1000]
 *     node node_modules/sysipc/examples/shm_client.js PATH …     (the npm package)
 *
 * @module
 */
import process from "node:process";
import { ftok, SharedMemory } from "../sysv/mod.ts";
import { args, isMain } from "./_run.ts";

/**
 * Writes `count` growing strings into the server's segment.
 *
 * @param path The path the server passed to `ftok(path, 1)`.
 * @param count How many letters (at most the segment's size − 1).
 * @param intervalMs Pause between letters.
 * @param log Where progress lines go.
 * @returns The final string.
 */
export async function shmClient(
  path: string,
  count: number,
  intervalMs: number,
  log: (line: string) => void = console.log,
): Promise<string> {
  using shm = SharedMemory.open(ftok(path, 1));
  const start = shm.bytes; // char *start = shmat(...)
  const n = Math.min(count, shm.size - 1);
  let cnt = 0;
  while (cnt < n) {
    start[cnt] = 0x41 + cnt; // start[cnt] = 'A' + cnt;
    cnt++;
    start[cnt] = 0; //          start[cnt] = '\0';
    log(`client wrote ${String.fromCharCode(...start.subarray(0, cnt))}`);
    if (cnt < n) await new Promise((r) => setTimeout(r, intervalMs));
  }
  return String.fromCharCode(...start.subarray(0, cnt));
} // `using`: detach (shmdt); the server removes the segment

if (isMain(import.meta)) {
  const [path, count = "5", interval = "1000"] = args;
  if (path === undefined) {
    console.error("usage: shm_client.ts PATH [COUNT=5] [INTERVAL_MS=1000]");
    process.exit(2);
  }
  await shmClient(path, Number(count), Number(interval));
}
