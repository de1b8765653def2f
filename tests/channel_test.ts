/**
 * `Channel`: messages whole, in order and never lost, across real processes
 * of the runtime under test; backpressure; the zero-copy calls; closing; a
 * peer killed at any moment; bad input.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { Channel, IpcError, PosixSharedMemory, spawn } from "./_support/lib.ts";
import { test } from "./_support/runtime.ts";
import { fixtureArgv, start } from "./_support/children.ts";
import { assertNoLeaks } from "./_support/leaks.ts";
import { listDir } from "./_support/procfs.ts";
import { messageAt, sameBytes } from "./_support/channel.ts";
import { stillPending } from "./_support/timing.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const shmEntries = () => (listDir("/dev/shm") ?? []).sort();

/** Both sides in this process. */
function pair(capacity = 4096): [Channel, Channel] {
  const a = Channel.create({ capacity });
  try {
    return [a, Channel.fromFd(a.fd, { duplicate: true })];
  } catch (e) {
    a.close();
    throw e;
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof IpcError && e.code === code;
}

/** A child of this runtime holding the other side of `channel`. */
function child(channel: Channel, args: (string | number)[], stdin = false) {
  const [cmd, argv] = fixtureArgv("channel_child.ts", args);
  return start(cmd, argv, { channel, stdin: stdin ? "pipe" : "null" });
}

test("messages arrive whole and in order, of every size from 0 to the largest, across many wraps of a small ring", async () => {
  await assertNoLeaks(async () => {
    const [a, b] = pair(4096);
    try {
      const max = a.maxMessageSize;
      assert.equal(max, 4096 / 2 - 8);
      const n = 3000;
      const sending = (async () => {
        for (let i = 0; i < n; i++) await a.send(messageAt(i, max));
      })();
      for (let i = 0; i < n; i++) {
        const m = await b.receive();
        assert.ok(m !== null && sameBytes(m, messageAt(i, max)), `message ${i}`);
      }
      await sending;
      assert.equal(b.tryReceive(), null, "nothing more");
    } finally {
      a.close();
      b.close();
    }
  });
});

test("strings go as UTF-8, empty messages are messages, and both directions work at once", async () => {
  const [a, b] = pair();
  try {
    await a.send("héllo ✓");
    await a.send("");
    await b.send(new Uint8Array([1, 2, 3]));
    assert.equal(dec.decode((await b.receive())!), "héllo ✓");
    assert.deepEqual(await b.receive(), new Uint8Array(0));
    assert.deepEqual(await a.receive(), new Uint8Array([1, 2, 3]));
  } finally {
    a.close();
    b.close();
  }
});

test("a full ring holds the sender back until the receiver makes room; nothing is dropped", async () => {
  const [a, b] = pair(4096);
  try {
    const m = new Uint8Array(1000).fill(9);
    let queued = 0;
    while (a.trySend(m)) queued++;
    assert.equal(queued, 4, "4 records of 1008 bytes fit in 4096");
    const last = new Uint8Array(1000).fill(7);
    const held = a.send(last);
    assert.ok(await stillPending(held, 100), "send() waits while the ring is full");
    assert.equal(b.tryReceive()!.length, 1000);
    await held;
    for (let i = 1; i < 4; i++) assert.equal((await b.receive())!.length, 1000);
    assert.deepEqual(await b.receive(), last);
  } finally {
    a.close();
    b.close();
  }
});

test("concurrent sends and receives take turns: each message once, in call order", async () => {
  const [a, b] = pair(4096);
  try {
    const sends = Array.from({ length: 50 }, (_, i) => a.send(`${i}`.padEnd(500, ".")));
    const got = await Promise.all(Array.from({ length: 50 }, () => b.receive()));
    await Promise.all(sends);
    assert.deepEqual(got.map((m) => Number.parseInt(dec.decode(m!))), [...Array(50).keys()]);
  } finally {
    a.close();
    b.close();
  }
});

test("timeouts and aborts end a wait and take nothing; a receive queued behind another can be aborted", async () => {
  const [a, b] = pair();
  try {
    const t = await rejection(b.receive({ timeout: 50 }));
    assert.equal((t as Error).name, "TimeoutError");
    assert.match((t as Error).message, /timed out after 50 ms/);
    const ac = new AbortController();
    const first = b.receive({ timeout: 10_000 });
    const second = b.receive({ signal: ac.signal });
    ac.abort(new Error("no longer"));
    assert.equal(((await rejection(second)) as Error).message, "no longer");
    await a.send("for the first");
    assert.equal(dec.decode((await first)!), "for the first");
    assert.equal(b.tryReceive(), null);
    // A full ring: a send that times out leaves no half message behind.
    while (a.trySend(new Uint8Array(1000)));
    const s = await rejection(a.send(new Uint8Array(1000), { timeout: 30 }));
    assert.equal((s as Error).name, "TimeoutError");
    let n = 0;
    while (b.tryReceive() !== null) n++;
    assert.ok(n > 0 && b.tryReceive() === null);
  } finally {
    a.close();
    b.close();
  }
});

test("reserve()/commit() and receiveView()/release() work in place and empty their views", async () => {
  const [a, b] = pair(4096);
  try {
    const view = await a.reserve(6);
    view.set(enc.encode("zero-c"));
    const queued = a.send("after"); // waits for the reservation
    assert.ok(await stillPending(queued, 20));
    a.commit();
    assert.equal(view.length, 0, "a committed view is empty");
    await queued;
    const got = (await b.receiveView())!;
    assert.equal(dec.decode(got), "zero-c");
    const next = b.receive(); // waits for the release
    assert.ok(await stillPending(next, 20));
    b.release();
    assert.equal(got.length, 0, "a released view is empty");
    assert.equal(dec.decode((await next)!), "after");
    assert.throws(() => a.commit(), TypeError);
    assert.throws(() => b.release(), TypeError);
    // Empty reservations and views too.
    const none = await a.reserve(0);
    a.commit();
    assert.equal(none.length, 0);
    assert.equal((await b.receiveView())!.length, 0);
    b.release();
  } finally {
    a.close();
    b.close();
  }
});

test("close(): the peer reads what was sent, then null; its sends fail with EPIPE; our waits reject with EBADF", async () => {
  await assertNoLeaks(async () => {
    const [a, b] = pair();
    try {
      const waiting = a.receive();
      await a.send("last words");
      a.close();
      assert.ok(isCode(await rejection(waiting), "EBADF"));
      assert.equal(a.fd, -1);
      await a.closed;
      assert.ok(b.peerClosed);
      assert.equal(dec.decode((await b.receive())!), "last words");
      assert.equal(await b.receive(), null);
      assert.equal(await b.receive(), null, "and again");
      assert.ok(isCode(await rejection(b.send("anyone?")), "EPIPE"));
      assert.ok(isCode(await rejection(a.send("x")), "EBADF"));
      a.close(); // idempotent
    } finally {
      b.close();
    }
  });
});

test("the streams: readable gives each message until the peer closes, writable sends and closes", async () => {
  const [a, b] = pair();
  try {
    const w = a.writable.getWriter();
    const reading = (async () => {
      const all: Uint8Array[] = [];
      for await (const m of b.readable) all.push(m);
      return all;
    })();
    await w.write("one");
    await w.write(new Uint8Array([2]));
    await w.close();
    const all = await reading;
    assert.deepEqual(all.map((m) => m.length), [3, 1]);
  } finally {
    a.close();
    b.close();
  }
});

test("a child of this runtime echoes 2,000 messages of every size back through spawn(cmd, { channel })", async () => {
  await assertNoLeaks(async () => {
    using channel = Channel.create({ capacity: 8192 });
    await using c = child(channel, ["echo"]);
    const max = channel.maxMessageSize;
    const n = 2000;
    const sending = (async () => {
      for (let i = 0; i < n; i++) await channel.send(messageAt(i, max));
    })();
    for (let i = 0; i < n; i++) {
      const m = await channel.receive({ timeout: 30_000 });
      assert.ok(m !== null && sameBytes(m, messageAt(i, max)), `echo ${i}`);
    }
    await sending;
    channel.close();
    assert.equal(await c.stdout.next(), `echoed ${n}`);
    assert.equal((await c.status).success, true);
  });
});

test("a child's stream arrives complete, then null once it closes", async () => {
  using channel = Channel.create({ capacity: 4096 });
  await using c = child(channel, ["send", 5000, channel.maxMessageSize]);
  let n = 0;
  for (;;) {
    const m = await channel.receive({ timeout: 30_000 });
    if (m === null) break;
    assert.ok(sameBytes(m, messageAt(n, channel.maxMessageSize)), `message ${n}`);
    n++;
  }
  assert.equal(n, 5000);
  assert.equal(await c.stdout.next(), "sent 5000");
});

test("a peer killed with SIGKILL: everything it sent is read, then the waiting receive rejects with ECONNRESET", async () => {
  using channel = Channel.create({ capacity: 4096 });
  await using c = child(channel, ["send-die", 20, 100]);
  for (let i = 0; i < 20; i++) {
    assert.ok(sameBytes((await channel.receive({ timeout: 30_000 }))!, messageAt(i, 100)));
  }
  const e = await rejection(channel.receive({ timeout: 30_000 }));
  assert.ok(isCode(e, "ECONNRESET"), String(e));
  assert.match((e as Error).message, /ended without closing/);
  assert.equal((await c.status).signal, "SIGKILL");
});

test("a sender held back by a full ring rejects with ECONNRESET when the receiver is killed", async () => {
  using channel = Channel.create({ capacity: 4096 });
  await using c = child(channel, ["hold"], true);
  assert.equal(await c.stdout.next(), "ready");
  while (channel.trySend(new Uint8Array(1000)));
  const held = channel.send(new Uint8Array(1000), { timeout: 30_000 });
  assert.ok(await stillPending(held, 50));
  c.kill("SIGKILL");
  const e = await rejection(held);
  assert.ok(isCode(e, "ECONNRESET"), String(e));
  assert.ok(isCode(await rejection(channel.send("x")), "ECONNRESET"), "and every send after");
});

test("a receiver killed after n messages: the parked receive of the survivor is not disturbed by the other direction", async () => {
  using channel = Channel.create({ capacity: 4096 });
  await using c = child(channel, ["receive-die", 3]);
  for (let i = 0; i < 3; i++) await channel.send(`m${i}`);
  assert.equal(await c.stdout.next(), "got 3");
  const e = await rejection(channel.receive({ timeout: 30_000 }));
  assert.ok(isCode(e, "ECONNRESET"), String(e));
});

test("a close landing at any moment ends the other side's waiting receive with null, never a timeout or a false ECONNRESET", async () => {
  // Each round's new channel watches its peer through a pidfd that often gets
  // the number of the previous round's, closed while the waiter was polling.
  const outcomes = { ended: 0, other: [] as string[] };
  for (let i = 0; i < 150; i++) {
    const [a, b] = pair();
    try {
      const p = b.receive({ timeout: 10_000 });
      for (let k = 0; k < i % 12; k++) await new Promise((r) => setTimeout(r, 0));
      a.close();
      const r = await p.then((m) => m, (e) => e);
      if (r === null) outcomes.ended++;
      else outcomes.other.push(`round ${i}: ${r instanceof Error ? r.message : "a message"}`);
    } finally {
      a.close();
      b.close();
    }
  }
  assert.deepEqual(outcomes, { ended: 150, other: [] });
});

test("a named channel: another process opens it by name, the name leaves /dev/shm at once, both sides talk", async () => {
  await assertNoLeaks(async () => {
    const before = shmEntries();
    const name = `/sysipc_test_channel_${process.pid}`;
    using channel = Channel.create({ name, capacity: 4096 });
    assert.ok(shmEntries().includes(name.slice(1)));
    await using c = start(...fixtureArgv("channel_child.ts", ["echo-named", name]));
    await channel.send("over a name");
    assert.equal(dec.decode((await channel.receive({ timeout: 30_000 }))!), "over a name");
    assert.deepEqual(shmEntries(), before, "the opener removed the name");
    assert.ok(isCode(await rejection(Promise.resolve().then(() => Channel.open(name))), "ENOENT"));
    channel.close();
    assert.equal(await c.stdout.next(), "echoed 1");
  });
});

test("a named channel nobody opened leaves /dev/shm when its creator closes it", () => {
  const before = shmEntries();
  const c = Channel.create({ name: `/sysipc_test_unopened_${process.pid}`, capacity: 4096 });
  assert.equal(shmEntries().length, before.length + 1);
  c.close();
  assert.deepEqual(shmEntries(), before);
});

test("a channel has two sides: a third is refused with EBUSY", () => {
  const [a, b] = pair();
  try {
    assert.throws(
      () => Channel.fromFd(a.fd, { duplicate: true }),
      (e: unknown) => isCode(e, "EBUSY") && /both sides are taken/.test((e as Error).message),
    );
  } finally {
    a.close();
    b.close();
  }
});

test("bad input gets a TypeError or RangeError naming the parameter, before anything is made", async () => {
  const before = shmEntries();
  assert.throws(() => Channel.create({ capacity: 5000 }), /capacity must be a power of two/);
  assert.throws(() => Channel.create({ capacity: 1024 }), RangeError);
  assert.throws(() => Channel.create({ capacity: 2 ** 31 }), RangeError);
  assert.throws(() => Channel.create({ capacity: "big" as unknown as number }), TypeError);
  assert.throws(() => Channel.create({ name: "no-slash" }), TypeError);
  assert.throws(() => Channel.create(null as unknown as undefined), TypeError);
  assert.throws(() => Channel.open(42 as unknown as string), /name must be a string/);
  assert.throws(() => Channel.fromFd(-1), RangeError);
  assert.throws(() => Channel.fromFd(1.5), TypeError);
  {
    using mem = PosixSharedMemory.anonymous({ size: 8192 });
    assert.throws(() => Channel.fromFd(mem.fd, { duplicate: true }), /Not a sysipc channel/);
  }
  const [a, b] = pair(4096);
  try {
    assert.throws(
      () => a.trySend(new Uint8Array(a.maxMessageSize + 1)),
      /message must be at most 2040 bytes/,
    );
    assert.throws(() => a.trySend(42 as unknown as string), /message must be a string/);
    await assert.rejects(a.send(new Uint8Array(3000)), RangeError);
    await assert.rejects(a.send("x", { timeout: -1 }), /timeout must be/);
    await assert.rejects(
      b.receive({ signal: "no" as unknown as AbortSignal }),
      /signal must be an AbortSignal/,
    );
    await assert.rejects(a.reserve(-1), RangeError);
    await assert.rejects(a.reserve(2041), /size must be an integer from 0 to 2040/);
    assert.throws(
      () => spawn("true", { channel: a, fds: { 3: a } }),
      /fds\[3\] and channel both want/,
    );
    assert.throws(() => spawn("true", { channel: {} as unknown as Channel }), /channel must be/);
  } finally {
    a.close();
    b.close();
  }
  assert.deepEqual(shmEntries(), before);
});

test("Channel.fromParent() without a channel says what is missing", () => {
  assert.throws(() => Channel.fromParent(), /SYSIPC_CHANNEL_FD/);
});
