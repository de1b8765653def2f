import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import { PosixMessageQueue } from "./_support/lib.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { isCode, isName, rejectsWith } from "./_support/reject.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { compileC, exampleArgv, interopFile, run, startFixture } from "./_support/children.ts";
import { JOBS, pmqPriority } from "../examples/pmq_priority.ts";
import { readProcText } from "./_support/procfs.ts";
import { sleep, stillPending, takeWithRandomAborts } from "./_support/timing.ts";
import { queueExists, queues } from "./_support/objects.ts";

const dec = new TextDecoder();
const text = (m: { data: Uint8Array }) => dec.decode(m.data);
let names = 0;
const freshName = () => `/sysipc_test_${process.pid}_${names++}`;

/**
 * Asserts that `fn` leaves the descriptors and the POSIX queues as it found
 * them: the mounted queue list where there is one, and in any case every
 * name `made` gone.
 */
async function noLeaks(made: string[], fn: () => Promise<void> | void): Promise<void> {
  const before = queues();
  await assertNoFdLeak(fn);
  if (before !== undefined) assert.deepEqual(queues(), before, "the POSIX queues changed");
  for (const n of made) assert.equal(queueExists(n), false, `${n} was left behind`);
}

/** Runs `fn` on a new queue under the leak checks, unlinking it whatever happens. */
function withQueue(
  options: Parameters<typeof PosixMessageQueue.create>[1],
  fn: (q: PosixMessageQueue) => Promise<void> | void,
): Promise<void> {
  const name = freshName();
  return noLeaks([name], async () => {
    using q = PosixMessageQueue.create(name, options);
    try {
      await fn(q);
    } finally {
      q.unlink();
    }
  });
}

/** Whether this process may pass /proc/sys/fs/mqueue's limits (CAP_SYS_RESOURCE, bit 24). */
function privileged(): boolean {
  const caps = /^CapEff:\s+([0-9a-f]+)$/m.exec(readProcText("/proc/self/status") ?? "")?.[1];
  return caps !== undefined && (BigInt(`0x${caps}`) & (1n << 24n)) !== 0n;
}

test("POSIX queue: create, open, attributes and unlink; the mounted mqueue filesystem lists it", async () => {
  const name = freshName();
  await noLeaks([name], () => {
    using q = PosixMessageQueue.create(name, { maxMessages: 4, messageSize: 100, mode: 0o640 });
    try {
      assert.equal(q.name, name);
      assert.deepEqual(q.attributes(), { maxMessages: 4, messageSize: 100, currentMessages: 0 });
      const listed = queues();
      if (listed !== undefined) assert.ok(listed.includes(name), `${name} in ${listed}`);
      assert.throws(() => PosixMessageQueue.create(name), isCode("EEXIST"));
      using same = PosixMessageQueue.create(name, { exclusive: false, maxMessages: 9 });
      assert.equal(same.attributes().maxMessages, 4, "an existing queue keeps its attributes");
      using reader = PosixMessageQueue.open(name, { access: "read" });
      using writer = PosixMessageQueue.open(name, { access: "write" });
      assert.equal(writer.trySend("x"), true);
      assert.equal(q.attributes().currentMessages, 1);
      assert.throws(
        () => reader.trySend("y"),
        (e) => isCode("EBADF")(e) && /"read"/.test(String(e)),
      );
      assert.throws(() => writer.tryReceive(), isCode("EBADF"));
      assert.equal(text(reader.tryReceive()!), "x");
    } finally {
      q.unlink();
    }
    assert.throws(() => PosixMessageQueue.open(name), isCode("ENOENT"));
    assert.throws(() => PosixMessageQueue.unlink(name), (e) => {
      assert.ok(isCode("ENOENT")(e));
      assert.match(String(e), /mq_unlink, \/sysipc_test_/);
      return true;
    });
  });
});

test("POSIX queue: create(undefined) picks a unique name; the defaults come from /proc/sys/fs/mqueue", () => {
  const a = PosixMessageQueue.create();
  const b = PosixMessageQueue.create();
  try {
    assert.match(a.name, /^\/[^/]+$/);
    assert.notEqual(a.name, b.name);
    const attrs = a.attributes();
    const limit = (f: string) => Number(readProcText(`/proc/sys/fs/mqueue/${f}`)!.trim());
    assert.equal(attrs.maxMessages, limit("msg_default"));
    assert.equal(attrs.messageSize, limit("msgsize_default"));
  } finally {
    a.close();
    b.close();
    PosixMessageQueue.unlink(a.name);
    PosixMessageQueue.unlink(b.name);
  }
  assert.equal(queueExists(a.name), false);
});

test("POSIX queue: the highest priority first, arrival order within one; bytes and strings kept", async () => {
  await withQueue({ maxMessages: 8, messageSize: 64 }, async (q) => {
    const sent: [string | Uint8Array, number][] = [
      ["a", 0],
      ["b", 5],
      [new Uint8Array([0, 255, 1]), 5],
      ["", 2],
      ["é✓", 32767],
    ];
    for (const [d, priority] of sent) await q.send(d, { priority });
    const got: [string, number][] = [];
    for (let m; (m = q.tryReceive()) !== null;) got.push([[...m.data].join(","), m.priority]);
    const bytes = (s: string) => [...new TextEncoder().encode(s)].join(",");
    assert.deepEqual(got, [
      [bytes("é✓"), 32767],
      [bytes("b"), 5],
      ["0,255,1", 5],
      ["", 2],
      [bytes("a"), 0],
    ]);
  });
});

test("POSIX queue: a full queue holds a sender in another process until we drain it; nothing lost", async () => {
  await withQueue({ maxMessages: 3, messageSize: 16 }, async (q) => {
    const count = 500;
    await using child = startFixture("pmq_child.ts", ["send", q.name, count, 1]);
    const got: number[] = [];
    while (got.length < count) got.push(Number(text(await q.receive({ timeout: 15_000 }))));
    assert.equal(await child.stdout.next(), "sent");
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => i), "in order, once each");
    assert.equal(q.tryReceive(), null);
  });
});

test("POSIX queue: trySend() is false when full; a send waits for room and resumes when there is", async () => {
  await withQueue({ maxMessages: 1, messageSize: 4 }, async (q) => {
    assert.equal(q.trySend("1"), true);
    assert.equal(q.trySend("2"), false);
    const s = q.send("3", { timeout: 10_000 });
    assert.ok(await stillPending(s, 50));
    assert.equal(text(q.tryReceive()!), "1");
    await s;
    assert.equal(text(q.tryReceive()!), "3");
  });
});

test("POSIX queue: timeout, abort and close end waits; a cancelled wait took nothing", async () => {
  await withQueue({ maxMessages: 1, messageSize: 8 }, async (q) => {
    const t0 = performance.now();
    await rejectsWith(q.receive({ timeout: 60 }), isName("TimeoutError"), "receive timeout");
    assert.ok(performance.now() - t0 >= 55);
    await rejectsWith(q.receive({ timeout: 0 }), isName("TimeoutError"), "timeout 0");
    const ac = new AbortController();
    const r = q.receive({ signal: ac.signal });
    assert.ok(await stillPending(r, 30));
    ac.abort(new Error("stop"));
    await rejectsWith(r, (e) => (e as Error).message === "stop", "abort");
    q.trySend("f");
    await rejectsWith(q.send("g", { timeout: 40 }), isName("TimeoutError"), "send timeout");
    await rejectsWith(q.send("h", { signal: AbortSignal.abort("x") }), (e) => e === "x", "aborted");
    assert.deepEqual(q.attributes().currentMessages, 1);
    assert.equal(text(q.tryReceive()!), "f");

    using other = PosixMessageQueue.open(q.name);
    const waiting = other.receive();
    const loop = async () => {
      const seen: string[] = [];
      for await (const m of other.messages()) seen.push(text(m));
      return seen;
    };
    assert.ok(await stillPending(waiting, 30));
    other.close();
    other.close();
    await rejectsWith(waiting, isName("AbortError"), "close under a waiting receive");
    assert.deepEqual(await loop(), [], "messages() on a closed handle ends at once");
    assert.throws(() => other.tryReceive(), isCode("EBADF"));
    await rejectsWith(other.receive(), isCode("EBADF"), "receive after close");
  });
});

test("POSIX queue: messages() yields until the handle is closed, and ends with the signal's reason on abort", async () => {
  await withQueue({ maxMessages: 4, messageSize: 8 }, async (q) => {
    q.trySend("a", { priority: 1 });
    q.trySend("b", { priority: 2 });
    const seen: string[] = [];
    setTimeout(() => q.trySend("c"), 30);
    const ac = new AbortController();
    await rejectsWith(
      (async () => {
        for await (const m of q.messages({ signal: ac.signal })) {
          seen.push(text(m));
          if (seen.length === 3) setTimeout(() => ac.abort(new Error("enough")), 10);
        }
      })(),
      (e) => (e as Error).message === "enough",
      "aborted loop",
    );
    assert.deepEqual(seen, ["b", "a", "c"]);
  });
});

test("POSIX queue: receives cancelled at random moments under traffic lose and duplicate nothing", async () => {
  await withQueue({ maxMessages: 10, messageSize: 16 }, async (q) => {
    const count = 1500;
    // After every 25 messages the sender waits for the queue to run dry, then
    // for our go-ahead, which we give once a receive was cancelled: receives
    // park and get cancelled however slow the machine makes either side.
    await using child = startFixture("pmq_child.ts", ["send", q.name, count, 0, 25, "go"], {
      stdin: "pipe",
    });
    const { got, cancelled } = await takeWithRandomAborts(
      count,
      async (signal) => Number(text(await q.receive({ signal, timeout: 20_000 }))),
      () => void child.send("go").catch(() => {}),
    );
    child.stdin!.close(); // no more go-aheads: the sender may exit
    assert.equal(await child.stdout.next(), "sent");
    assert.deepEqual(
      got,
      Array.from({ length: count }, (_, i) => i),
      "every message once, in order",
    );
    assert.equal(q.tryReceive(), null);
    assert.ok(cancelled > 0, "some receives were cancelled");
  });
});

test("POSIX queue: a C peer with mq_send/mq_receive exchanges prioritised messages both ways", async () => {
  const dir = tempDir("sysipc_pmq_");
  try {
    const peer = await compileC(interopFile("pmq_peer.c"), dir);
    await withQueue({ maxMessages: 10, messageSize: 32 }, async (q) => {
      const sent = await run(peer, ["send", q.name, "8"]);
      assert.equal(sent.stdout.trim(), "sent", sent.stderr);
      const got: string[] = [];
      for (let m; (m = q.tryReceive()) !== null;) got.push(`${m.priority} ${text(m)}`);
      assert.deepEqual(got, [
        "3 c:3",
        "3 c:7",
        "2 c:2",
        "2 c:6",
        "1 c:1",
        "1 c:5",
        "0 c:0",
        "0 c:4",
      ]);

      for (const [s, priority] of [["x", 1], ["y", 9], ["z", 1]] as const) {
        await q.send(s, { priority });
      }
      const back = await run(peer, ["recv", q.name, "3"]);
      assert.equal(back.stdout.trim(), "9 y\n1 x\n1 z\ndone", back.stderr);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("POSIX queue: Python (ctypes on libc) sends messages we receive, and receives ours", async () => {
  await withQueue({ maxMessages: 10, messageSize: 32 }, async (q) => {
    const py = await run("/usr/bin/python3", [interopFile("pmq_peer.py"), "send", q.name, "5"]);
    assert.equal(py.stdout.trim(), "sent", py.stderr);
    const got: string[] = [];
    for (let m; (m = q.tryReceive()) !== null;) got.push(`${m.priority} ${text(m)}`);
    assert.deepEqual(got, ["2 py:2", "1 py:1", "1 py:4", "0 py:0", "0 py:3"]);
    await q.send("hello", { priority: 4 });
    await q.send("world", { priority: 7 });
    const back = await run("/usr/bin/python3", [interopFile("pmq_peer.py"), "recv", q.name, "2"]);
    assert.equal(back.stdout.trim(), "7 world\n4 hello\ndone", back.stderr);
  });
});

test("POSIX queue: another process's receive wakes when we send", async () => {
  await withQueue({ maxMessages: 2, messageSize: 16 }, async (q) => {
    await using child = startFixture("pmq_child.ts", ["wait", q.name]);
    assert.equal(await child.stdout.next(), "waiting");
    await sleep(100);
    await q.send("ping", { priority: 3 });
    assert.equal(await child.stdout.next(), "3 ping");
    assert.equal((await child.output()).code, 0);
  });
});

test("POSIX queue: bad arguments are TypeError/RangeError naming the parameter, before any syscall", async () => {
  await withQueue({ maxMessages: 2, messageSize: 4 }, async (q) => {
    for (const bad of ["jobs", "/a/b", "/", "//", "/.", "/..", `/${"x".repeat(256)}`, "/a\0b"]) {
      assert.throws(() => PosixMessageQueue.create(bad), TypeError, JSON.stringify(bad));
    }
    assert.throws(() => PosixMessageQueue.open(null as unknown as string), /name must be/);
    assert.throws(() => PosixMessageQueue.unlink(42 as unknown as string), TypeError);
    assert.throws(() => PosixMessageQueue.create(undefined, { maxMessages: 0 }), /maxMessages/);
    assert.throws(() => PosixMessageQueue.create(undefined, { messageSize: 1.5 }), /messageSize/);
    assert.throws(() => PosixMessageQueue.create(undefined, { mode: -1 }), RangeError);
    assert.throws(
      () => PosixMessageQueue.open(q.name, { access: "rw" as "read" }),
      /access must be "read" or "write" or "readwrite"/,
    );
    const limit = (f: string) => Number(readProcText(`/proc/sys/fs/mqueue/${f}`)!.trim());
    for (
      const [options, file] of [
        [{ maxMessages: limit("msg_max") + 1 }, "msg_max"],
        [{ messageSize: limit("msgsize_max") + 1 }, "msgsize_max"],
      ] as const
    ) {
      const name = freshName();
      if (privileged()) { // root with CAP_SYS_RESOURCE may
        PosixMessageQueue.create(name, options).close();
        PosixMessageQueue.unlink(name);
      } else {
        assert.throws(
          () => PosixMessageQueue.create(name, options),
          new RegExp(`EINVAL .*above /proc/sys/fs/mqueue/${file}, \\d+`),
        );
      }
    }
    await rejectsWith(
      q.send("12345"),
      (e) => e instanceof RangeError && /messageSize/.test(String(e)),
      "size",
    );
    assert.throws(
      () => q.trySend("1", { priority: 32768 }),
      /priority must be an integer from 0 to 32767/,
    );
    assert.throws(() => q.trySend("1", { priority: -1 }), RangeError);
    await rejectsWith(q.send(7 as unknown as string), (e) => e instanceof TypeError, "data");
    await rejectsWith(q.receive({ timeout: -1 }), (e) => e instanceof RangeError, "timeout");
    await rejectsWith(
      q.receive({ signal: "no" as unknown as AbortSignal }),
      (e) => e instanceof TypeError,
      "signal",
    );
    assert.throws(
      () => new (PosixMessageQueue as unknown as new () => unknown)(),
      /not constructed directly/,
    );
    assert.equal(q.attributes().currentMessages, 0);
  });
});

test("pmq_priority: a child's eight jobs come out highest priority first, in sending order among equals", async () => {
  await noLeaks([], async () => {
    const got = await pmqPriority(() => {});
    const want = JOBS.map(([job, priority], i) => ({ job, priority, i }))
      .sort((a, b) => b.priority - a.priority || a.i - b.i)
      .map(({ job, priority }) => ({ job, priority }));
    assert.deepEqual(got, want);
    assert.equal(got[0].job, "outage page");
  });
  // And as its own program: it prints the same order.
  const [cmd, argv] = exampleArgv("pmq_priority.ts");
  const out = await run(cmd, argv);
  assert.equal(out.code, 0, out.stderr);
  assert.match(
    out.stdout,
    /received outage page \(priority 9\)\nreceived payment \(priority 5\)\nreceived refund/,
  );
});
