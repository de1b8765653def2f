/**
 * The seed's first pipe demo: the parent creates a pipe and a child; the child
 * writes "hello world!" five times, once a second, and closes its end; the
 * parent reads and prints each message, sees end of file when the child
 * closes, and waits for the child (no zombie).
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/pipe_parent_child.ts [INTERVAL_MS=1000]
 *     bun examples/pipe_parent_child.ts
 *     node node_modules/sysipc/examples/pipe_parent_child.js     (the npm package)
 *
 * The child is this same file run again, by the same runtime, with the
 * argument `child`; it finds the pipe's write end as its descriptor 3.
 *
 * @module
 */
import { pipe, PipeEnd, spawn } from "../pipe/mod.ts";
import { args, isMain, selfCommand } from "./_run.ts";

/**
 * The parent: create the pipe, start the child, read until EOF, reap the child.
 *
 * @param intervalMs The child's pause between messages.
 * @param log Where output lines go.
 */
export async function parent(intervalMs = 1000, log: (s: string) => void = console.log) {
  const p = pipe();
  const self = selfCommand(import.meta.url, ["child", String(intervalMs)]);
  const child = spawn(self.command, { args: self.args, fds: { 3: p.writeEnd } });
  p.writeEnd.close(); // 读之前关闭写: the parent only reads
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(127);
  for (;;) {
    const n = await p.readEnd.read(buffer);
    if (n === null) {
      log("pipe file closed, child quit");
      break;
    }
    log(`father got the msg from child: ${decoder.decode(buffer.subarray(0, n)).trimEnd()}`);
  }
  p.readEnd.close();
  const status = await child.status;
  log(`wait success! child ${child.pid} exited with code ${status.code}`);
}

/**
 * The child: write five messages into inherited descriptor 3, then close it.
 *
 * @param intervalMs Pause between messages.
 */
export async function child(intervalMs: number) {
  using out = PipeEnd.fromFd(3); // 写之前关闭读: the child only got the write end
  const msg = new TextEncoder().encode("hello world!\n");
  for (let cnt = 5; cnt > 0; cnt--) {
    await out.write(msg);
    if (cnt > 1) await new Promise((r) => setTimeout(r, intervalMs));
  }
}

if (isMain(import.meta)) {
  if (args[0] === "child") await child(Number(args[1] ?? 1000));
  else await parent(Number(args[0] ?? 1000));
}
