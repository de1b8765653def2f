/**
 * Named pipes (FIFOs) between unrelated processes: `mkfifo()` creates one,
 * `openFifo()` opens it for reading or writing and returns a `PipeEnd` (the
 * same type as an anonymous pipe's ends). Requires `--allow-ffi`.
 *
 * @example Server reads what a client writes
 * ```ts
 * import { mkfifo, openFifo } from "@sysipc/sysipc/fifo";
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/myfifo`;
 * mkfifo(path);
 * const server = openFifo(path, "read");
 * const client = await openFifo(path, "write");
 * await client.write(new TextEncoder().encode("hello world\n"));
 * client.close();
 * console.log(await new Response((await server).readable).text());
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @module
 */
export { mkfifo, openFifo } from "./fifo.ts";
export type { MkfifoOptions, OpenFifoOptions } from "./fifo.ts";
