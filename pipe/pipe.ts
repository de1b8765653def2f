/**
 * `pipe()` and `Pipe`: an anonymous pipe, both ends.
 *
 * @module
 */
import { errno } from "../_sys/errno.ts";
import * as v from "../_sys/validate.ts";
import { ipcError } from "../errors.ts";
import { O_CLOEXEC, sys } from "./_sys.ts";
import { adoptFd, checkCapacity, type PipeEnd } from "./pipe_end.ts";

/** Options for {@linkcode pipe}. */
export interface PipeOptions {
  /** Capacity in bytes (`F_SETPIPE_SZ`); the kernel default is 65536. */
  capacity?: number;
}

/**
 * An anonymous pipe: bytes written to `writeEnd` come out of `readEnd`, in
 * order. Hand one end to a child with `spawn()` and keep the other.
 */
export class Pipe {
  /** The end you read from (`pipefd[0]`). */
  readonly readEnd: PipeEnd;
  /** The end you write to (`pipefd[1]`). */
  readonly writeEnd: PipeEnd;

  // pipe() makes these.
  private constructor(readEnd: PipeEnd, writeEnd: PipeEnd) {
    this.readEnd = readEnd;
    this.writeEnd = writeEnd;
  }

  /** `readEnd.readable`: a byte stream of what is written to the pipe. */
  get readable(): ReadableStream<Uint8Array> {
    return this.readEnd.readable;
  }

  /** `writeEnd.writable`: a stream into the pipe, with backpressure. */
  get writable(): WritableStream<Uint8Array> {
    return this.writeEnd.writable;
  }

  /** Closes both ends that are still open. Idempotent. */
  close(): void {
    this.readEnd.close();
    this.writeEnd.close();
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Creates an anonymous pipe (`pipe2` with `O_CLOEXEC`: neither end leaks into
 * children unless handed over with `spawn()`). Requires `--allow-ffi`.
 *
 * @param options `capacity` sets the buffer size in bytes.
 * @returns The two ends.
 * @throws {TypeError | RangeError} For bad options or `capacity`, before the pipe is made.
 * @throws {IpcError} `EMFILE`/`ENFILE` when out of descriptors.
 *
 * @example Through a pipe as streams
 * ```ts
 * import { pipe } from "@sysipc/sysipc/pipe";
 * const p = pipe();
 * const text = new Response(p.readable).text();
 * const w = p.writable.getWriter();
 * await w.write(new TextEncoder().encode("hello world!\n"));
 * await w.close();
 * console.log(await text); // "hello world!\n"
 * ```
 */
export function pipe(options?: PipeOptions): Pipe {
  const o = v.options(options);
  const capacity = o.capacity === undefined ? undefined : checkCapacity(o.capacity, "capacity");
  const fds = new Int32Array(2);
  if (sys().pipe2(fds, O_CLOEXEC) < 0) throw ipcError("Cannot create pipe", "pipe2", errno());
  const p = new (Pipe as unknown as new (r: PipeEnd, w: PipeEnd) => Pipe)(
    adoptFd(fds[0]),
    adoptFd(fds[1]),
  );
  if (capacity !== undefined) {
    try {
      p.writeEnd.setCapacity(capacity);
    } catch (e) {
      p.close();
      throw e;
    }
  }
  return p;
}
