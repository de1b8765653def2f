/**
 * Channels between runtimes: a parent of every runtime hands jobs over
 * channels to worker processes of every runtime (`examples/channel_worker.ts`
 * with the workers' command after `--`), and checks every answer; and a
 * worker of another runtime killed mid-stream ends this process's waits
 * with `ECONNRESET`.
 *
 *     deno task test:interop
 *
 * @module
 */
import assert from "node:assert/strict";
import { Channel, IpcError } from "../_support/lib.ts";
import { run, start } from "../_support/children.ts";
import { test } from "../_support/runtime.ts";
import { on, type Runtime, VERSION_PREFIX } from "./_runtimes.ts";

const RUNTIMES: Runtime[] = ["deno", "node", "node26", "bun"];
const JOBS = 2000;

for (const parent of RUNTIMES) {
  test(`a ${parent} parent feeds ${JOBS} jobs over channels to workers of every runtime; every answer is checked`, async () => {
    for (const child of RUNTIMES) {
      const worker = on(child, "examples/channel_worker.ts");
      const p = on(parent, "examples/channel_worker.ts", [
        "--jobs",
        String(JOBS),
        "--transport",
        "channel",
        "--",
        worker.command,
        ...worker.args,
      ]);
      const out = await run(p.command, p.args);
      assert.equal(out.success, true, `${parent} → ${child}: ${out.stderr}`);
      const m = /^channel: (\d+) jobs on 2 workers .*\((\d+) \+ (\d+); workers on (.+)\)$/m.exec(
        out.stdout,
      );
      assert.ok(m, `${parent} → ${child}: ${out.stdout}`);
      assert.deepEqual([m[1], m[2], m[3]], [String(JOBS), String(JOBS / 2), String(JOBS / 2)]);
      assert.ok(
        m[4].startsWith(VERSION_PREFIX[child]),
        `${parent} → ${child}: the workers ran on ${m[4]}`,
      );
    }
  });
}

for (const child of ["node", "node26", "bun"] as const) {
  test(`a ${child} child killed while this Deno process waits on the channel: everything it sent arrives, then ECONNRESET`, async () => {
    using channel = Channel.create({ capacity: 4096 });
    const c = on(child, "tests/fixtures/channel_child.ts", ["send-die", "30", "100"]);
    await using p = start(c.command, c.args, { channel });
    let n = 0;
    let error: unknown;
    try {
      for (;;) {
        if ((await channel.receive({ timeout: 30_000 })) === null) break;
        n++;
      }
    } catch (e) {
      error = e;
    }
    assert.equal(n, 30);
    assert.ok(error instanceof IpcError && error.code === "ECONNRESET", String(error));
    assert.equal((await p.status).signal, "SIGKILL");
  });
}
