/**
 * Async parity: every wait the library offers — a pipe read or write, a FIFO
 * open, a semaphore acquire or wait-for-zero, a child's exit — leaves the
 * event loop free (a 10 ms timer keeps ticking) and ends in the documented
 * way, with the peer a real process. The file runs unchanged on Deno (FFI
 * `nonblocking` calls), Node.js and Bun (the library's Worker pool); the
 * streams, backpressure, EOF, EPIPE, timeout and abort cases of the other
 * files run on all three too.
 *
 * The bounds are behavioural and generous: a wait must last as long as its
 * peer makes it (≥ 250 ms of a 300 ms delay), and the timer must tick at
 * least once per 40 ms of it (a 10 ms interval; a blocked loop would give 0).
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { mkfifo, openFifo, pipe, SemaphoreSet, spawn } from "./_support/lib.ts";
import { runtimeVersion, tempDir, test } from "./_support/runtime.ts";
import { assertNoLeaks } from "./_support/leaks.ts";
import { fixtureArgv, start } from "./_support/children.ts";
import { stillPending, ticksDuring, until } from "./_support/timing.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The timer kept ticking through a wait of `ms`: at least one tick per 40 ms. */
function assertTicked(r: { ticks: number; ms: number }, what: string): void {
  assert.ok(r.ms >= 250, `${what} returned after ${r.ms.toFixed(0)} ms: it did not wait`);
  assert.ok(
    r.ticks >= Math.floor(r.ms / 40),
    `${what}: only ${r.ticks} timer ticks in ${r.ms.toFixed(0)} ms on ${runtimeVersion}`,
  );
}

test("a pipe read waits for another process's write while timers keep running", async () => {
  await assertNoLeaks(async () => {
    using p = pipe();
    const [cmd, args] = fixtureArgv("pipe_child.ts", ["late", "3", "300", "late\n"]);
    const child = spawn(cmd, { args, fds: { 3: p.writeEnd } });
    p.writeEnd.close();
    const buf = new Uint8Array(16);
    const r = await ticksDuring(() => p.readEnd.read(buf));
    assertTicked(r, "read()");
    assert.equal(dec.decode(buf.subarray(0, r.value!)), "late\n");
    assert.equal(await p.readEnd.read(buf), null, "then EOF");
    assert.equal((await child.status).success, true);
  });
});

test("a write into a full pipe waits for another process to read while timers keep running", async () => {
  await assertNoLeaks(async () => {
    using p = pipe();
    // `sh` sleeps 300 ms, then `cat` drains the pipe into /dev/null.
    const child = spawn("sh", {
      args: ["-c", "sleep 0.3; exec cat >/dev/null"],
      stdin: p.readEnd,
    });
    p.readEnd.close();
    await p.writeEnd.write(new Uint8Array(p.writeEnd.capacity)); // fills it: nobody reads yet
    const r = await ticksDuring(() => p.writeEnd.write(enc.encode("one more")));
    assertTicked(r, "write()");
    assert.equal(r.value, 8);
    p.writeEnd.close();
    assert.equal((await child.status).success, true);
  });
});

test("openFifo() waits for the other side, for reading and for writing, while timers keep running", async () => {
  const dir = tempDir("sysipc_async_");
  try {
    await assertNoLeaks(async () => {
      const path = `${dir}/f`;
      mkfifo(path);
      // Reading: a shell opens the FIFO for writing 300 ms later.
      await using w = start("sh", ["-c", `sleep 0.3; printf hi > '${path}'`]);
      const r = await ticksDuring(() => openFifo(path, "read"));
      assertTicked(r, 'openFifo("read")');
      {
        using reader = r.value;
        assert.equal(await new Response(reader.readable).text(), "hi");
      }
      assert.equal((await w.status).success, true);
      // Writing: `cat` opens it for reading 300 ms later.
      await using cat = start("sh", ["-c", `sleep 0.3; exec cat '${path}'`]);
      const s = await ticksDuring(() => openFifo(path, "write"));
      assertTicked(s, 'openFifo("write")');
      {
        using writer = s.value;
        await writer.write(enc.encode("to cat"));
      }
      assert.equal((await cat.output()).stdout, "to cat");
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs a sem_child.ts mode in a new process of this runtime, 300 ms from now. */
function semChildLater(...args: (string | number)[]) {
  const [cmd, argv] = fixtureArgv("sem_child.ts", args);
  return start("sh", ["-c", 'sleep 0.3; exec "$@"', "sh", cmd, ...argv]);
}

test("a semaphore acquire and a waitZero wait for another process while timers keep running", async () => {
  await assertNoLeaks(async () => {
    using set = SemaphoreSet.create({ count: 2, initial: [0, 1] });
    try {
      const [a, b] = set;
      await using releaser = semChildLater("release", set.id, 0);
      const r = await ticksDuring(() => a.acquire({ timeout: 20_000 }));
      assertTicked(r, "acquire()");
      assert.equal(await releaser.stdout.next(), "released");
      assert.equal(a.value, 0);
      // b is 1 until a child takes it.
      await using taker = semChildLater("wait", set.id, 1);
      const z = await ticksDuring(() => b.waitZero({ timeout: 20_000 }));
      assertTicked(z, "waitZero()");
      assert.equal(await taker.stdout.next(), "acquired");
      assert.equal(b.value, 0);
    } finally {
      set.remove();
    }
  });
});

test("child.status waits for the exit while timers keep running", async () => {
  await assertNoLeaks(async () => {
    const child = spawn("sleep", { args: ["0.3"] });
    const r = await ticksDuring(() => child.status);
    assertTicked(r, "child.status");
    assert.deepEqual(r.value, { success: true, code: 0, signal: null });
  });
});

test("six FIFO opens waiting at once do not starve a pipe read or a semaphore wait", async () => {
  // The Worker pool of Node and Bun keeps four threads idle and starts more
  // on demand; koffi's own async calls shared libuv's four threads and hung
  // here. Every runtime must let the read and the acquire through while six
  // opens wait, and then finish the opens too.
  const dir = tempDir("sysipc_async_");
  try {
    await assertNoLeaks(async () => {
      const paths = Array.from({ length: 6 }, (_, i) => `${dir}/f${i}`);
      for (const p of paths) mkfifo(p);
      const opens = paths.map((p) => openFifo(p, "read"));
      using set = SemaphoreSet.create();
      try {
        using p = pipe();
        const [cmd, args] = fixtureArgv("pipe_child.ts", ["late", "3", "200", "x"]);
        const child = spawn(cmd, { args, fds: { 3: p.writeEnd } });
        p.writeEnd.close();
        const acquired = set.at(0).acquire({ timeout: 20_000 });
        await until("the acquire is parked", () => set.at(0).waitingForIncrease === 1);
        const n = await p.readEnd.read(new Uint8Array(4));
        assert.equal(n, 1, "the pipe read completed while six opens waited");
        set.at(0).release();
        await acquired;
        assert.equal(await stillPending(Promise.race(opens), 50), true, "no writer yet");
        const writers = await Promise.all(paths.map((p) => openFifo(p, "write")));
        const readers = await Promise.all(opens);
        for (const [i, w] of writers.entries()) await w.write(enc.encode(`#${i}`));
        for (const w of writers) w.close();
        for (const [i, r] of readers.entries()) {
          assert.equal(await new Response(r.readable).text(), `#${i}`);
        }
        assert.equal((await child.status).success, true);
      } finally {
        set.remove();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
