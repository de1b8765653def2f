/**
 * The seed's shared-memory server (共享内存 server.c): derives the key with
 * `ftok(PATH, 1)`, creates a 4097-byte segment (`IPC_CREAT | IPC_EXCL`, mode
 * 0644, as the seed), and once per interval prints the string in it. It also
 * prints the attach count whenever it changes — what `ipcs -m` shows as
 * nattch: 1 while alone, 2 while a client is attached, 1 again when it
 * detaches. Unlike the seed's endless loop it stops after COUNT intervals (or
 * on Ctrl-C), then detaches and removes the segment, so nothing is left in
 * `ipcs`. Start it first, then `shm_client.ts` (or the seed's C client) with
 * the same PATH:
 *
 *     deno run --allow-ffi examples/shm_server.ts PATH [COUNT=30] [INTERVAL_MS=1000]
 *     bun examples/shm_server.ts PATH [COUNT=30] [INTERVAL_MS=1000]
 *     node node_modules/sysipc/examples/shm_server.js PATH …     (the npm package)
 *
 * PATH must exist (`ftok` uses its inode), e.g. `.`.
 *
 * @module
 */
import process from "node:process";
import { ftok, SharedMemory } from "../sysv/mod.ts";
import { args, isMain } from "./_run.ts";

/** What {@linkcode shmServer} saw. */
export interface ShmServerResult {
  /** The last string read from the segment. */
  last: string;
  /** Every attach count it printed, in order (e.g. `[1, 2, 1]`). */
  attachCounts: number[];
}

/**
 * Serves one segment: create it, print its string `count` times, remove it.
 *
 * @param path An existing path both sides pass to `ftok(path, 1)`.
 * @param count How many intervals to print.
 * @param intervalMs Pause between prints.
 * @param log Where each line goes.
 * @param signal Stops early (the segment is still removed).
 * @returns The last string and the attach counts seen.
 */
export async function shmServer(
  path: string,
  count: number,
  intervalMs: number,
  log: (line: string) => void = console.log,
  signal?: AbortSignal,
): Promise<ShmServerResult> {
  const key = ftok(path, 1);
  using shm = SharedMemory.create({ key, size: 4097, mode: 0o644 });
  const attachCounts: number[] = [];
  let last = "";
  try {
    log(`server: key 0x${(key >>> 0).toString(16)}, shmid ${shm.id}, ${shm.size} bytes`);
    const bytes = shm.bytes; // zero-copy: the client's writes show up here
    const decoder = new TextDecoder();
    for (let i = 0; i < count && !signal?.aborted; i++) {
      const n = shm.stat().attachCount;
      if (n !== attachCounts.at(-1)) {
        attachCounts.push(n);
        log(`attachCount: ${n} (ipcs -m nattch)`);
      }
      const end = bytes.indexOf(0);
      last = decoder.decode(bytes.subarray(0, end < 0 ? bytes.length : end));
      log(last); // printf("%s\n", start);
      if (i + 1 < count) await sleep(intervalMs, signal);
    }
  } finally {
    shm.remove(); // shmctl(shmid, IPC_RMID, NULL); `using` then detaches (shmdt)
  }
  log("server: segment removed");
  return { last, attachCounts };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

if (isMain(import.meta)) {
  const [path, count = "30", interval = "1000"] = args;
  if (path === undefined) {
    console.error("usage: shm_server.ts PATH [COUNT=30] [INTERVAL_MS=1000]");
    process.exit(2);
  }
  // Ctrl-C ends the loop so the segment is still removed (the seed's server,
  // killed by the signal, leaves it behind for `ipcrm -m`).
  const stop = new AbortController();
  const onInt = () => stop.abort();
  process.on("SIGINT", onInt);
  try {
    await shmServer(path, Number(count), Number(interval), console.log, stop.signal);
  } finally {
    process.off("SIGINT", onInt);
  }
}
