/**
 * The seed's four special cases of pipe reads and writes, and the pipe's size:
 *
 * 1. The writer keeps writing, the reader does not read: once the pipe is full
 *    (65536 bytes) the writer waits — backpressure, nothing is lost.
 * 2. The writer writes nothing, the reader keeps reading: the reader waits.
 * 3. The writer closes: the reader gets end of file (`null`).
 * 4. The reader closes, the writer keeps writing: the kernel would kill a C
 *    writer with SIGPIPE; here the write rejects with `IpcError` `EPIPE` and
 *    the process lives on.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/pipe_four_cases.ts
 *     bun examples/pipe_four_cases.ts
 *     node node_modules/sysipc/examples/pipe_four_cases.js     (the npm package)
 *
 * Each case runs the other side in a real child process (`sleep`, `sh`,
 * `true`), joined to us by the pipe.
 *
 * @module
 */
import { IpcError, pipe, spawn } from "../mod.ts";
import { isMain } from "./_run.ts";

/** Whether `p` settles within `ms` (the timer is cleared as soon as it does). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

/**
 * Runs the four cases and the capacity check, printing what happens.
 *
 * @param log Where output lines go.
 */
export async function fourCases(log: (s: string) => void = console.log): Promise<void> {
  {
    log("case 1: the reader does not read; the writer writes one byte at a time");
    const p = pipe();
    // `sleep` holds the read end and never reads it.
    const reader = spawn("sleep", { args: ["30"], stdin: p.readEnd });
    p.readEnd.close();
    const one = new Uint8Array([97]); // 'a', as in the seed
    let written = 0;
    for (;;) {
      const w = p.writeEnd.write(one);
      if (!await settlesWithin(w, 200)) {
        log(`  write #${written + 1} is waiting: the pipe is full after ${written} bytes`);
        reader.kill(); // the only reader goes away: the pending write fails
        await reader.status;
        await w.catch((e) => log(`  …and once the reader exits it fails with ${e.code}`));
        break;
      }
      await w; // rethrows if the write failed for another reason
      if (++written % 16384 === 0) log(`  ${written} bytes written`);
    }
    p.close();
  }
  {
    log("case 2: the writer writes nothing; the reader waits");
    const p = pipe();
    const writer = spawn("sh", { args: ["-c", "sleep 0.3; printf late"], stdout: p.writeEnd });
    p.writeEnd.close();
    const t0 = performance.now();
    const buf = new Uint8Array(16);
    const n = await p.readEnd.read(buf);
    log(
      `  read waited ${(performance.now() - t0).toFixed(0)} ms, then got "${
        new TextDecoder().decode(buf.subarray(0, n!))
      }"`,
    );
    await writer.status;
    p.close();
  }
  {
    log("case 3: the writer closes; the reader gets end of file");
    const p = pipe();
    const writer = spawn("sh", { args: ["-c", "printf 'hello world!\\n'"], stdout: p.writeEnd });
    p.writeEnd.close();
    const text = await new Response(p.readable).text();
    log(`  read ${JSON.stringify(text)}, then end of file (read() returned null)`);
    await writer.status;
  }
  {
    log("case 4: the reader closes; the writer gets EPIPE instead of being killed");
    const p = pipe();
    const reader = spawn("true", { stdin: p.readEnd }); // exits at once, closing its end
    p.readEnd.close();
    await reader.status;
    try {
      await p.writeEnd.write(new TextEncoder().encode("anyone there?"));
    } catch (e) {
      if (!(e instanceof IpcError)) throw e;
      log(`  write rejected: ${e.message} — and this process is still alive`);
    }
    p.close();
  }
  {
    log("pipe size: default and raised capacity");
    const p = pipe();
    log(`  default capacity: ${p.readEnd.capacity} bytes`);
    log(`  after setCapacity(1 MiB): ${p.writeEnd.setCapacity(1 << 20)} bytes`);
    p.close();
  }
}

if (isMain(import.meta)) await fourCases();
