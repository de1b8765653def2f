/**
 * POSIX IPC — the objects named like files (`"/jobs"`) that C programs open
 * with `mq_open` and Python with `posix_ipc`:
 *
 * - `PosixMessageQueue`: messages with priorities; a receive takes the
 *   oldest message of the highest priority. On Linux its descriptor waits
 *   like a pipe's: a synchronous try, then readiness on the library's shared
 *   waiter, so the event loop keeps running and no thread is held per wait.
 *
 * Names are one leading `/` and up to 255 bytes without another `/`. A queue
 * lives until its name is unlinked and the last handle is closed.
 * Requires `--allow-ffi`.
 *
 * @example A message with a priority
 * ```ts
 * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
 * using q = PosixMessageQueue.create();
 * try {
 *   await q.send("hello", { priority: 2 });
 *   const m = await q.receive();
 *   console.log(new TextDecoder().decode(m.data), m.priority); // "hello" 2
 * } finally {
 *   q.unlink();
 * }
 * ```
 *
 * @module
 */
export { PosixMessageQueue } from "./message_queue.ts";
export type {
  PosixMessage,
  PosixMessageQueueAttributes,
  PosixMessageQueueOpenOptions,
  PosixMessageQueueOptions,
  PosixMessagesOptions,
  PosixSendOptions,
  PosixTrySendOptions,
} from "./message_queue.ts";
export type { WaitOptions } from "../_sys/park.ts";
