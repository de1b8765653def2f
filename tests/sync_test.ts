// The `…Sync` variants: each blocks the test's own thread in the kernel while
// another process (tests/fixtures/sync_child.ts) acts on the object — a
// release, a message, a removal, signals — and must then return what the
// promise-based method would have given, or fail the same way.
import assert from "node:assert/strict";
import process from "node:process";
import {
  IpcError,
  MessageQueue,
  pipe,
  PosixMessageQueue,
  PosixSemaphore,
  SemaphoreSet,
  spawn,
} from "./_support/lib.ts";
import { test } from "./_support/runtime.ts";
import { isCode, isName } from "./_support/reject.ts";
import { assertNoLeaks as noLeaks } from "./_support/leaks.ts";
import { type Proc, startFixture } from "./_support/children.ts";

const dec = new TextDecoder();
const child = (...args: (string | number)[]): Proc => startFixture("sync_child.ts", args);

/** Runs `fn` and returns what it threw (failing if it returned). */
function thrown(fn: () => unknown, what: string): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: it returned`);
}

/** Removes a System V object unless another process already did, and lets go of the handle. */
function removeIfThere(o: { remove(): void; [Symbol.dispose](): void }): void {
  try {
    o.remove();
  } catch (e) {
    if (!(e instanceof IpcError && e.code === "EIDRM")) throw e;
  }
  o[Symbol.dispose]();
}

/** Milliseconds `fn` took, and its result. */
function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

/** With a SIGUSR2 handler installed through the runtime (so the signal interrupts, not kills). */
async function withSigusr2<T>(fn: () => Promise<T>): Promise<T> {
  const onSignal = () => {};
  process.on("SIGUSR2", onSignal);
  try {
    return await fn();
  } finally {
    process.off("SIGUSR2", onSignal);
  }
}

test("acquireSync() blocks in the kernel (semncnt counts it) until another process releases", async () => {
  await noLeaks(async () => {
    using set = SemaphoreSet.create({ count: 2 });
    try {
      await using peer = child("sem-release", set.id, 1);
      assert.equal(await peer.stdout.next(), "ready");
      const [, ms] = timed(() => set.at(1).acquireSync({ timeout: 10_000 }));
      assert.equal(await peer.stdout.next(), "waiting 1", "the peer saw us waiting in semtimedop");
      assert.equal(set.at(1).value, 0, "the unit released was taken");
      assert.ok(ms < 9_000, `returned after ${ms} ms`);
      assert.equal((await peer.status).success, true);
    } finally {
      set.remove();
    }
  });
});

test("acquireSync({ timeout }) throws TimeoutError after about the timeout, taking nothing; 0 tries once", async () => {
  await noLeaks(() => {
    using set = SemaphoreSet.create({ initial: 1 });
    try {
      const [e, ms] = timed(() =>
        thrown(() => set.at(0).acquireSync({ count: 2, timeout: 100 }), "acquireSync")
      );
      assert.ok(isName("TimeoutError")(e), `got ${e}`);
      assert.ok(ms >= 95 && ms < 1_000, `threw after ${ms} ms`);
      assert.equal(set.at(0).value, 1, "nothing taken");
      assert.ok(
        isName("TimeoutError")(thrown(() => set.at(0).acquireSync({ count: 2, timeout: 0 }), "0")),
      );
      set.at(0).acquireSync({ timeout: 0 }); // available: taken at once
      assert.equal(set.at(0).value, 0);
      const e2 = thrown(
        () => set.opSync([{ index: 0, delta: -1 }], { timeout: 50 }),
        "opSync",
      );
      assert.ok(isName("TimeoutError")(e2), `got ${e2}`);
    } finally {
      set.remove();
    }
  });
});

test("acquireSync() throws IpcError EIDRM when another process removes the set under it", async () => {
  await noLeaks(async () => {
    const set = SemaphoreSet.create();
    try {
      await using peer = child("sem-remove", set.id);
      assert.equal(await peer.stdout.next(), "ready");
      const e = thrown(() => set.at(0).acquireSync({ timeout: 10_000 }), "acquireSync");
      assert.ok(isCode("EIDRM")(e), `got ${e}`);
      assert.equal(await peer.stdout.next(), "removed");
      // Later calls: EIDRM at once (the kernel forgot the id).
      assert.ok(isCode("EIDRM")(thrown(() => set.at(0).acquireSync(), "after")));
    } finally {
      removeIfThere(set);
    }
  });
});

test("acquireSync() retries EINTR: 100 signals to the blocked thread, then the release is taken", async () => {
  await withSigusr2(() =>
    noLeaks(async () => {
      using set = SemaphoreSet.create();
      try {
        await using peer = child("sem-signals", set.id, process.pid, 100);
        assert.equal(await peer.stdout.next(), "ready");
        set.at(0).acquireSync({ timeout: 20_000 });
        assert.equal(await peer.stdout.next(), "sent 100");
        assert.equal(set.at(0).value, 0);
      } finally {
        set.remove();
      }
    })
  );
});

test("opSync() and acquireSync() take turns with another process's async acquire for 300 rounds", async () => {
  await noLeaks(async () => {
    using set = SemaphoreSet.create({ count: 2 });
    try {
      await using peer = child("sem-pong", set.id, 300);
      assert.equal(await peer.stdout.next(), "ready");
      for (let i = 0; i < 300; i++) {
        set.at(0).release();
        if (i % 2 === 0) set.at(1).acquireSync({ timeout: 10_000 });
        else set.opSync([{ index: 1, delta: -1 }], { timeout: 10_000 });
        assert.deepEqual(set.getValues(), [0, 0], `round ${i}: strict alternation`);
      }
      assert.equal(await peer.stdout.next(), "done");
    } finally {
      set.remove();
    }
  });
});

test("PosixSemaphore.acquireSync() blocks until another process releases; a timeout throws TimeoutError", async () => {
  await noLeaks(async () => {
    using sem = PosixSemaphore.create();
    try {
      await using peer = child("psem-post", sem.name!, 100);
      assert.equal(await peer.stdout.next(), "ready");
      const [, ms] = timed(() => sem.acquireSync({ timeout: 10_000 }));
      assert.ok(ms >= 50, `returned after ${ms} ms: before the release?`);
      assert.equal(sem.value, 0);
      const [e, ms2] = timed(() => thrown(() => sem.acquireSync({ timeout: 100 }), "timeout"));
      assert.ok(isName("TimeoutError")(e), `got ${e}`);
      assert.ok(ms2 >= 95 && ms2 < 1_000, `threw after ${ms2} ms`);
      assert.equal((await peer.status).success, true);
    } finally {
      sem.unlink();
    }
  });
});

test("MessageQueue.receiveSync() blocks until another process sends; timeouts and EIDRM as receive() gives them", async (t) => {
  await noLeaks(async () => {
    const q = MessageQueue.create();
    try {
      await t.step("a message sent 100 ms later", async () => {
        await using peer = child("msg-send", q.id, 100, "hello");
        assert.equal(await peer.stdout.next(), "ready");
        const [m, ms] = timed(() => q.receiveSync({ timeout: 10_000 }));
        assert.equal(dec.decode(m.data), "hello");
        assert.equal(m.type, 1);
        assert.ok(ms >= 50, `returned after ${ms} ms: before the send?`);
      });
      await t.step("timeouts: 100 ms, and 0 (one try)", () => {
        const [e, ms] = timed(() => thrown(() => q.receiveSync({ timeout: 100 }), "receiveSync"));
        assert.ok(isName("TimeoutError")(e), `got ${e}`);
        assert.ok(ms >= 95 && ms < 1_000, `threw after ${ms} ms`);
        assert.ok(isName("TimeoutError")(thrown(() => q.receiveSync({ timeout: 0 }), "0")));
        for (let i = 0; i < 20; i++) {
          assert.ok(isName("TimeoutError")(thrown(() => q.receiveSync({ timeout: 1 }), "1 ms")));
        }
      });
      await t.step("100 signals to the blocked thread: retried, the deadline kept", async () => {
        await withSigusr2(async () => {
          await using peer = child("msg-signals", q.id, process.pid, 100, "after signals");
          assert.equal(await peer.stdout.next(), "ready");
          const m = q.receiveSync({ timeout: 20_000 });
          assert.equal(dec.decode(m.data), "after signals");
          assert.equal(await peer.stdout.next(), "sent 100");
        });
      });
      await t.step("sendSync() waits for room while the queue is full", async () => {
        q.setMaxBytes(8);
        q.sendSync("12345678");
        const e = thrown(() => q.sendSync("x", { timeout: 50 }), "full");
        assert.ok(isName("TimeoutError")(e), `got ${e}`);
        await using peer = child("msg-drain", q.id, 100);
        assert.equal(await peer.stdout.next(), "ready");
        const [, ms] = timed(() => q.sendSync("9", { timeout: 10_000 }));
        assert.ok(ms >= 50, `returned after ${ms} ms: before there was room?`);
        assert.equal(await peer.stdout.next(), "12345678");
        assert.equal(dec.decode(q.receiveSync({ timeout: 0 }).data), "9");
      });
      await t.step("removed under the wait: EIDRM", async () => {
        await using peer = child("msg-remove", q.id, 100);
        assert.equal(await peer.stdout.next(), "ready");
        const e = thrown(() => q.receiveSync({ timeout: 10_000 }), "receiveSync");
        assert.ok(isCode("EIDRM")(e), `got ${e}`);
        assert.ok(isCode("EIDRM")(thrown(() => q.sendSync("x"), "after")));
      });
    } finally {
      removeIfThere(q);
    }
  });
});

test("PosixMessageQueue.receiveSync()/sendSync() block until another process sends or makes room", async () => {
  await noLeaks(async () => {
    using q = PosixMessageQueue.create(undefined, { maxMessages: 1, messageSize: 16 });
    try {
      {
        await using peer = child("pmq-send", q.name, 100, "posix hello");
        assert.equal(await peer.stdout.next(), "ready");
        const [m, ms] = timed(() => q.receiveSync({ timeout: 10_000 }));
        assert.equal(dec.decode(m.data), "posix hello");
        assert.ok(ms >= 50, `returned after ${ms} ms: before the send?`);
      }
      const [e, ms] = timed(() => thrown(() => q.receiveSync({ timeout: 100 }), "empty"));
      assert.ok(isName("TimeoutError")(e), `got ${e}`);
      assert.ok(ms >= 95 && ms < 1_000, `threw after ${ms} ms`);
      q.sendSync("first", { priority: 1 });
      assert.ok(isName("TimeoutError")(thrown(() => q.sendSync("x", { timeout: 50 }), "full")));
      {
        await using peer = child("pmq-drain", q.name, 100);
        assert.equal(await peer.stdout.next(), "ready");
        const [, ms2] = timed(() => q.sendSync("second", { timeout: 10_000 }));
        assert.ok(ms2 >= 50, `returned after ${ms2} ms: before there was room?`);
        assert.equal(await peer.stdout.next(), "first");
      }
      assert.equal(dec.decode(q.receiveSync({ timeout: 0 }).data), "second");
    } finally {
      q.unlink();
    }
  });
});

test("PipeEnd.readSync()/writeSync(): a child's output to EOF, 1 MiB into a child, EPIPE, a read timeout", async () => {
  await noLeaks(async () => {
    {
      using p = pipe();
      const c = spawn("sh", {
        args: ["-c", "sleep 0.1; printf hello; sleep 0.05; printf ' world'"],
        stdout: p.writeEnd,
      });
      p.writeEnd.close();
      const buf = new Uint8Array(64);
      let text = "";
      for (;;) {
        const n = p.readEnd.readSync(buf, { timeout: 10_000 });
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
      }
      assert.equal(text, "hello world");
      assert.equal((await c.status).success, true);
    }
    {
      using into = pipe();
      using out = pipe();
      const c = spawn("wc", { args: ["-c"], stdin: into.readEnd, stdout: out.writeEnd });
      into.readEnd.close();
      out.writeEnd.close();
      const mib = new Uint8Array(1 << 20).fill(97);
      assert.equal(into.writeEnd.writeSync(mib), 1 << 20); // 16× the pipe: blocks while wc drains
      into.writeEnd.close();
      const buf = new Uint8Array(64);
      const n = out.readEnd.readSync(buf, { timeout: 10_000 });
      assert.equal(dec.decode(buf.subarray(0, n ?? 0)).trim(), String(1 << 20));
      assert.equal((await c.status).success, true);
    }
    {
      using p = pipe();
      const [e, ms] = timed(() =>
        thrown(() => p.readEnd.readSync(new Uint8Array(8), { timeout: 100 }), "empty")
      );
      assert.ok(isName("TimeoutError")(e), `got ${e}`);
      assert.ok(ms >= 95 && ms < 1_000, `threw after ${ms} ms`);
      p.readEnd.close();
      assert.ok(isCode("EPIPE")(thrown(() => p.writeEnd.writeSync(new Uint8Array(4)), "EPIPE")));
      assert.ok(isCode("EBADF")(thrown(() => p.readEnd.readSync(new Uint8Array(4)), "closed")));
    }
    {
      using p = pipe({ capacity: 4096 });
      const pending = p.writeEnd.write(new Uint8Array(8192)); // full: waits for the reader
      const e = thrown(() => p.writeEnd.writeSync(new Uint8Array(1)), "interleave");
      assert.ok(isName("InvalidStateError")(e), `got ${e}`);
      const buf = new Uint8Array(8192);
      let got = 0;
      while (got < 8192) got += (await p.readEnd.read(buf)) ?? 0;
      await pending;
    }
  });
});
