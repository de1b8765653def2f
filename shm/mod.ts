/**
 * System V shared memory (the same names as `@sysipc/sysipc/sysv`, kept as
 * their own entry point): `ftok()` turns a path into a key both processes
 * agree on, `SharedMemory.create()` makes a segment and `SharedMemory.open()`
 * attaches an existing one, and the segment's memory is a zero-copy
 * `ArrayBuffer` with typed-array views — what one process writes, the others
 * see at once. Nothing synchronises access (guard it with `SemaphoreSet`);
 * the segment lives in the kernel until `remove()`. `detach()` makes every
 * view length 0 before unmapping, so no call can read unmapped memory.
 * Requires `--allow-ffi`.
 *
 * @example The seed's server and client, in one process
 * ```ts
 * import { ftok, SharedMemory } from "@sysipc/sysipc/shm";
 * const path = Deno.makeTempFileSync();
 * const key = ftok(path, 1);
 * using server = SharedMemory.create({ key, size: 4097 }); // shmget(IPC_CREAT|IPC_EXCL) + shmat
 * try {
 *   using client = SharedMemory.open(key); // shmget + shmat
 *   client.write("ABC\0");
 *   const text = server.read(0, 3);
 *   console.log(new TextDecoder().decode(text)); // "ABC"
 *   console.log(server.stat().attachCount); // 2, like `ipcs -m` nattch
 * } finally {
 *   server.remove(); // shmctl(IPC_RMID)
 *   Deno.removeSync(path);
 * }
 * ```
 *
 * @module
 */
export { ftok, IPC_PRIVATE, SharedMemory } from "../sysv/mod.ts";
export type {
  SharedMemoryCreateOptions,
  SharedMemoryOpenOptions,
  SharedMemoryStat,
  TypedArrayConstructor,
} from "../sysv/mod.ts";
