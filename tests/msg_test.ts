import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import { IPC_PRIVATE, IpcError, MessageQueue } from "./_support/lib.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { isCode, isName, rejectsWith } from "./_support/reject.ts";
import { assertNoLeaks as noLeaks } from "./_support/leaks.ts";
import { msgServer } from "../examples/msg_server.ts";
import {
  AsUser,
  compileC,
  exampleArgv,
  interopFile,
  type Proc,
  run,
  startFixture,
} from "./_support/children.ts";
import { isRoot, readProcText } from "./_support/procfs.ts";
import { sleep, stillPending, takeWithRandomAborts, until } from "./_support/timing.ts";

const dec = new TextDecoder();
const text = (m: { data: Uint8Array }) => dec.decode(m.data);

/** A key nobody else uses: random in 0x5e40_0000–0x5e4f_ffff, checked free. */
function freshKey(): number {
  for (;;) {
    const key = 0x5e40_0000 + Math.floor(Math.random() * 0x10_0000);
    try {
      MessageQueue.open(key);
    } catch (e) {
      if (e instanceof IpcError && e.code === "ENOENT") return key;
      throw e;
    }
  }
}

/** The fields /proc/sysvipc/msg shows for one id (what `ipcs -q` reads). */
function procMsg(id: number): Record<string, number> | undefined {
  const lines = (readProcText("/proc/sysvipc/msg") ?? "").trim().split("\n");
  const head = lines[0].trim().split(/\s+/);
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    if (Number(f[1]) !== id) continue;
    return Object.fromEntries(
      head.map((h, i) => [h, h === "perms" ? parseInt(f[i], 8) : Number(f[i])]),
    );
  }
  return undefined;
}

/** Runs `fn` on a new queue under both leak checks, removing the queue whatever happens. */
function withQueue(
  options: Parameters<typeof MessageQueue.create>[0],
  fn: (q: MessageQueue) => Promise<void> | void,
): Promise<void> {
  return noLeaks(async () => {
    using q = MessageQueue.create(options);
    try {
      await fn(q);
    } finally {
      q.remove();
    }
  });
}

const startChild = (...args: (string | number)[]): Proc => startFixture("msg_child.ts", args);

/** A message's text as the fixture sends it: "<type>:<i>" padded with "." to `size`. */
function payload(type: number, i: number, size: number): string {
  const s = `${type}:${i}`;
  return s.length >= size ? s : s + ".".repeat(size - s.length);
}

test("create() sets key, mode and maxBytes, and stat() reads struct msqid_ds as ipcs does", async () => {
  await noLeaks(async () => {
    const key = freshKey();
    using q = MessageQueue.create({ key, mode: 0o640, maxBytes: 3000 });
    try {
      assert.equal(q.key, key);
      await q.send("abcd", { type: 3 });
      await q.send("ef", { type: 9 });
      const st = q.stat();
      const proc = procMsg(q.id)!;
      assert.ok(proc, "the queue is listed in /proc/sysvipc/msg");
      assert.equal(st.key, proc.key);
      assert.equal(st.mode, 0o640);
      assert.equal(st.mode, proc.perms);
      assert.equal(st.messageCount, 2);
      assert.equal(st.messageCount, proc.qnum);
      assert.equal(st.bytes, 6);
      assert.equal(st.bytes, proc.cbytes);
      assert.equal(st.maxBytes, 3000);
      assert.equal(st.lastSendPid, process.pid);
      assert.equal(st.lastSendPid, proc.lspid);
      assert.equal(st.lastReceivePid, 0);
      assert.equal(st.receiveTime, null);
      assert.ok(st.sendTime instanceof Date);
      assert.ok(st.changeTime instanceof Date);
      assert.equal(st.uid, proc.uid);
      assert.equal(st.creatorUid, proc.cuid);
      await q.receive();
      const after = q.stat();
      assert.equal(after.lastReceivePid, process.pid);
      assert.ok(after.receiveTime instanceof Date);

      assert.throws(() => MessageQueue.create({ key }), isCode("EEXIST"));
      using again = MessageQueue.create({ key, exclusive: false, maxBytes: 100 });
      assert.equal(again.id, q.id);
      assert.equal(again.stat().maxBytes, 3000, "an existing queue's maxBytes is left alone");
      using opened = MessageQueue.open(key);
      assert.equal(opened.id, q.id);
      using byId = MessageQueue.fromId(q.id);
      assert.equal(byId.key, key);
      assert.equal(text(byId.tryReceive()!), "ef");
    } finally {
      q.remove();
    }
  });
});

test("receive() picks by type: 0 the first, > 0 that type, < 0 the lowest type up to |type|", async () => {
  await withQueue({}, async (q) => {
    for (const [t, s] of [[5, "a"], [2, "b"], [7, "c"], [2, "d"], [1, "e"]] as const) {
      await q.send(s, { type: t });
    }
    assert.deepEqual(await q.receive({ type: 2 }).then(text), "b");
    assert.deepEqual(await q.receive({ type: -4 }).then(text), "e", "type 1 before type 2");
    assert.deepEqual(await q.receive({ type: -4 }).then(text), "d");
    assert.equal(q.tryReceive({ type: -4 }), null, "no type ≤ 4 left");
    assert.equal(q.tryReceive({ type: 6 }), null);
    const first = await q.receive();
    assert.deepEqual([text(first), first.type], ["a", 5]);
    const last = q.tryReceive()!;
    assert.deepEqual([text(last), last.type], ["c", 7]);
    assert.equal(q.tryReceive(), null);
  });
});

test("messages keep their bytes, boundaries and order: empty, binary, UTF-8, the largest", async () => {
  await withQueue({}, async (q) => {
    const max = Number(readProcText("/proc/sys/kernel/msgmax")!.trim());
    const big = new Uint8Array(max).map((_, i) => (i * 31 + 7) & 0xff);
    await q.send(new Uint8Array(0));
    await q.send(new Uint8Array([0, 255, 0, 1]), { type: 2 });
    await q.send("héllo ✓");
    await q.send(big, { type: Number.MAX_SAFE_INTEGER });
    assert.equal((await q.receive()).data.length, 0);
    assert.deepEqual([...(await q.receive()).data], [0, 255, 0, 1]);
    assert.equal(text(await q.receive()), "héllo ✓");
    const m = await q.receive();
    assert.equal(m.type, Number.MAX_SAFE_INTEGER, "a 64-bit type comes back whole");
    assert.deepEqual(m.data, big);
  });
});

test("a message longer than maxSize is E2BIG and stays in the queue", async () => {
  await withQueue({}, async (q) => {
    await q.send("0123456789", { type: 4 });
    await rejectsWith(q.receive({ maxSize: 9 }), isCode("E2BIG"), "receive");
    assert.throws(() => q.tryReceive({ maxSize: 3 }), (e) => {
      assert.ok(isCode("E2BIG")(e));
      assert.match((e as Error).message, /longer than maxSize, 3 bytes; it stays in the queue/);
      return true;
    });
    assert.equal(q.stat().messageCount, 1);
    // A waiting receive that a too-long message wakes: E2BIG, the message stays.
    const empty = MessageQueue.create();
    try {
      const waiting = empty.receive({ maxSize: 2, timeout: 10_000 });
      assert.ok(await stillPending(waiting, 100));
      empty.trySend("long");
      await rejectsWith(waiting, isCode("E2BIG"), "the parked receive");
      assert.equal(text(await empty.receive({ maxSize: 4 })), "long");
    } finally {
      empty.remove();
    }
    assert.equal(text(await q.receive({ maxSize: 10 })), "0123456789");
  });
});

test("a full queue holds a sender back until a receiver in another process drains it; nothing is lost", async () => {
  await withQueue({ maxBytes: 4096 }, async (q) => {
    const count = 300, size = 1000; // 300 KB through a 4 KB queue
    await using child = startChild("recv", q.id, count, 0);
    for (let i = 0; i < count; i++) await q.send(payload(1, i, size));
    const out = await child.output();
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines.pop(), "done");
    assert.deepEqual(
      lines,
      Array.from({ length: count }, (_, i) => `1 1:${i}`),
      "in order, once each",
    );
    assert.equal(q.stat().messageCount, 0);
  });
});

test("trySend() is false on a full queue; a message that can never fit is a RangeError naming the limit", async () => {
  await withQueue({ maxBytes: 8 }, async (q) => {
    assert.equal(q.trySend("12345678"), true);
    assert.equal(q.trySend("x"), false);
    assert.throws(() => q.trySend("123456789"), /at most 8 bytes \(the queue's maxBytes/);
    await rejectsWith(
      q.send("123456789"),
      (e) => e instanceof RangeError && /the queue's maxBytes/.test(e.message),
      "send",
    );
    const max = Number(readProcText("/proc/sys/kernel/msgmax")!.trim());
    await rejectsWith(
      q.send(new Uint8Array(max + 1)),
      (e) => e instanceof RangeError && /kernel\.msgmax/.test(e.message),
      "send past msgmax",
    );
    // Lowered by someone else after we looked: found out before waiting forever.
    using other = MessageQueue.fromId(q.id);
    q.tryReceive();
    other.setMaxBytes(2);
    q.trySend("ab");
    await rejectsWith(
      q.send("abcd", { timeout: 5000 }),
      (e) => e instanceof RangeError && /at most 2 bytes/.test(e.message),
      "send after the queue shrank",
    );
  });
});

test("timeout and abort end waiting receives and sends; a message sent later is not taken", async () => {
  await withQueue({ maxBytes: 1 }, async (q) => {
    const t0 = performance.now();
    await rejectsWith(q.receive({ timeout: 60 }), isName("TimeoutError"), "receive timeout");
    assert.ok(performance.now() - t0 >= 55, "not before the timeout");
    await rejectsWith(q.receive({ timeout: 0 }), isName("TimeoutError"), "timeout 0");
    const ac = new AbortController();
    const r = q.receive({ signal: ac.signal });
    assert.ok(await stillPending(r, 50));
    ac.abort(new Error("stop"));
    await rejectsWith(r, (e) => (e as Error).message === "stop", "abort");
    await rejectsWith(q.receive({ signal: AbortSignal.abort("x") }), (e) => e === "x", "aborted");

    q.trySend("f");
    await rejectsWith(q.send("g", { timeout: 60 }), isName("TimeoutError"), "send timeout");
    const ac2 = new AbortController();
    const s = q.send("h", { signal: ac2.signal });
    assert.ok(await stillPending(s, 50));
    ac2.abort(new Error("stop send"));
    await rejectsWith(s, (e) => (e as Error).message === "stop send", "send abort");
    // Neither cancelled wait left a receive or a send behind.
    assert.equal(text(q.tryReceive()!), "f");
    assert.equal(q.tryReceive(), null);
    q.trySend("i");
    assert.equal(text(q.tryReceive()!), "i");
  });
});

test("removal wakes a receiver and a sender waiting in other processes with EIDRM", async () => {
  await noLeaks(async () => {
    const q = MessageQueue.create({ maxBytes: 4 });
    let removed = false;
    try {
      q.trySend("full");
      await using receiver = startChild("wait", q.id, 99);
      await using sender = startChild("block", q.id, 4);
      assert.equal(await receiver.stdout.next(), "waiting");
      assert.equal(await sender.stdout.next(), "waiting");
      await sleep(200); // both parked in the kernel
      q.remove();
      removed = true;
      assert.equal(await receiver.stdout.next(), "EIDRM");
      assert.equal(await sender.stdout.next(), "EIDRM");
      assert.equal((await receiver.output()).code, 0);
      assert.equal((await sender.output()).code, 0);
    } finally {
      if (!removed) q.remove();
    }
  });
});

test("removal here rejects waits with EIDRM, ends messages(), and later use is EIDRM", async () => {
  await noLeaks(async () => {
    const q = MessageQueue.create();
    q.trySend("one");
    q.trySend("two");
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of q.messages()) seen.push(text(m));
    })();
    const waiting = q.receive({ type: 5 }).then(() => "resolved", (e) => e);
    await until("both messages read", () => seen.length === 2);
    q.remove();
    q.remove(); // idempotent on the handle
    await loop;
    assert.deepEqual(seen, ["one", "two"]);
    assert.ok(isCode("EIDRM")(await waiting), "the waiting receive is EIDRM");
    assert.throws(() => q.trySend("x"), isCode("EIDRM"));
    assert.throws(() => q.stat(), isCode("EIDRM"));
    await rejectsWith(q.send("x"), isCode("EIDRM"), "send");
    assert.throws(() => MessageQueue.fromId(q.id), isCode("EINVAL"));
  });
});

test("messages() ends with the signal's reason on abort, and leaving the loop takes nothing more", async () => {
  await withQueue({}, async (q) => {
    for (const w of ["a", "b", "c"]) q.trySend(w);
    for await (const m of q.messages()) {
      assert.equal(text(m), "a");
      break;
    }
    assert.equal(q.stat().messageCount, 2, "break took no second message");
    const ac = new AbortController();
    const got: string[] = [];
    const err = await rejectsWith(
      (async () => {
        for await (const m of q.messages({ signal: ac.signal, type: -9 })) {
          got.push(text(m));
          if (got.length === 2) setTimeout(() => ac.abort(new Error("enough")), 20);
        }
      })(),
      (e) => (e as Error).message === "enough",
      "aborted loop",
    );
    assert.ok(err);
    assert.deepEqual(got, ["b", "c"]);
  });
});

test("dispose cancels the handle's waits with AbortError and makes it unusable", async () => {
  await noLeaks(async () => {
    const q = MessageQueue.create({ maxBytes: 1 });
    try {
      q.trySend("x");
      const r = q.receive({ type: 2 });
      const s = q.send("y");
      assert.ok(await stillPending(Promise.all([r, s]), 50));
      q[Symbol.dispose]();
      q[Symbol.dispose]();
      await rejectsWith(r, isName("AbortError"), "receive");
      await rejectsWith(s, isName("AbortError"), "send");
      assert.throws(() => q.tryReceive(), isName("InvalidStateError"));
      assert.throws(() => q.remove(), isName("InvalidStateError"));
    } finally {
      MessageQueue.removeById(q.id);
    }
  });
});

test("receives cancelled at random moments under traffic lose and duplicate nothing", async () => {
  await withQueue({ maxBytes: 2048 }, async (q) => {
    const count = 2000;
    // After every 25 messages the sender waits for the queue to run dry, then
    // for our go-ahead, which we give once a receive was cancelled: receives
    // park and get cancelled however slow the machine makes either side.
    await using child = startFixture("msg_child.ts", ["send", q.id, count, 1, 16, 25, "go"], {
      stdin: "pipe",
    });
    const { got, cancelled } = await takeWithRandomAborts(
      count,
      async (signal) => {
        const m = await q.receive({ signal, timeout: 20_000 });
        return Number(text(m).replace(/\.+$/, "").split(":")[1]);
      },
      () => void child.send("go").catch(() => {}),
    );
    child.stdin!.close(); // no more go-aheads: the sender may exit
    assert.equal((await child.output()).stdout.trim(), "sent");
    assert.deepEqual(
      got,
      Array.from({ length: count }, (_, i) => i),
      "every message once, in order",
    );
    assert.equal(q.tryReceive(), null);
    assert.ok(cancelled > 0, "some receives were cancelled");
  });
});

test("Python sysv_ipc sends typed messages we receive, and receives ours", async () => {
  await noLeaks(async () => {
    const key = freshKey();
    using q = MessageQueue.create({ key });
    try {
      const py = await run("/usr/bin/python3", [
        interopFile("msg_peer.py"),
        "send",
        String(key),
        "6",
      ]);
      assert.equal(py.stdout.trim(), "sent", py.stderr);
      const twos: string[] = [];
      for (let m; (m = q.tryReceive({ type: 2 })) !== null;) twos.push(text(m));
      assert.deepEqual(twos, ["py:1", "py:4"]);
      const rest: string[] = [];
      for (let m; (m = q.tryReceive()) !== null;) rest.push(`${m.type} ${text(m)}`);
      assert.deepEqual(rest, ["1 py:0", "3 py:2", "1 py:3", "3 py:5"]);

      for (const [t, s] of [[4, "js:a"], [1, "js:b"], [9, "js:c"]] as const) {
        await q.send(s, { type: t });
      }
      const back = await run("/usr/bin/python3", [
        interopFile("msg_peer.py"),
        "recv",
        String(key),
        "3",
      ]);
      assert.equal(back.stdout.trim(), "4 js:a\n1 js:b\n9 js:c\ndone", back.stderr);
    } finally {
      q.remove();
    }
  });
});

test("a C peer with msgsnd/msgrcv exchanges typed messages both ways", async () => {
  const dir = tempDir("sysipc_msg_");
  try {
    const peer = await compileC(interopFile("msg_peer.c"), dir);
    await withQueue({}, async (q) => {
      const sent = await run(peer, ["send", String(q.id), "10"]);
      assert.equal(sent.stdout.trim(), "sent", sent.stderr);
      assert.equal(q.stat().lastSendPid > 0, true);
      const fives: string[] = [];
      for (let m; (m = q.tryReceive({ type: 5 })) !== null;) fives.push(text(m));
      assert.deepEqual(fives, ["c:4", "c:9"]);
      assert.equal(q.stat().messageCount, 8);
      while (q.tryReceive() !== null);

      // Ours, read lowest type first by msgrcv(-5).
      for (const [t, s] of [[3, "x"], [1, "y"], [5, "z"], [1, "w"]] as const) {
        await q.send(s, { type: t });
      }
      const got = await run(peer, ["recv", String(q.id), "4"]);
      assert.equal(got.stdout.trim(), "1 y\n1 w\n3 x\n5 z\ndone", got.stderr);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("another process's receive wakes when we send, and ours when it sends", async () => {
  await withQueue({}, async (q) => {
    await using child = startChild("wait", q.id, 42);
    assert.equal(await child.stdout.next(), "waiting");
    await sleep(100); // parked
    await q.send("not for it", { type: 41 });
    await q.send("for it", { type: 42 });
    assert.equal(await child.stdout.next(), "42 for it");
    assert.equal(text(q.tryReceive()!), "not for it");
    const mine = q.receive({ type: 7, timeout: 15_000 });
    await using sender = startChild("send", q.id, 1, 7, 0);
    assert.equal(text(await mine), "7:0");
    assert.equal((await sender.output()).code, 0);
  });
});

test({
  name:
    "setMaxBytes(): a user may shrink or grow up to kernel.msgmnb; above it is EPERM, said plainly",
  ignore: !isRoot(), // needs setpriv to become `nobody`
  fn: async () => {
    await withQueue({}, (q) => {
      q.setMaxBytes(100);
      assert.equal(q.stat().maxBytes, 100);
      const mnb = Number(readProcText("/proc/sys/kernel/msgmnb")!.trim());
      q.setMaxBytes(mnb);
      assert.equal(q.stat().maxBytes, mnb);
    });
    using nobody = new AsUser();
    const mnb = Number(readProcText("/proc/sys/kernel/msgmnb")!.trim());
    const ok = await nobody.runFixture("msg_child.ts", ["grow", "new", String(mnb)]);
    assert.equal(ok.stdout.trim(), "ok", ok.stderr);
    const r = await nobody.runFixture("msg_child.ts", ["grow", "new", String(mnb + 1)]);
    assert.match(
      r.stdout.trim(),
      /^EPERM .*above kernel\.msgmnb, \d+ bytes, which only a privileged process/,
      r.stderr,
    );
  },
});

test("bad arguments are TypeError/RangeError naming the parameter, before any syscall", async () => {
  await withQueue({}, async (q) => {
    assert.throws(() => MessageQueue.create({ key: "1" as unknown as number }), /key must be/);
    assert.throws(() => MessageQueue.create({ maxBytes: 0 }), RangeError);
    assert.throws(() => MessageQueue.create({ maxBytes: 1.5 }), /maxBytes must be an integer/);
    assert.throws(() => MessageQueue.create({ mode: 0o1000 }), RangeError);
    assert.throws(() => MessageQueue.create(null as unknown as object), TypeError);
    assert.throws(() => MessageQueue.open(IPC_PRIVATE), /IPC_PRIVATE/);
    assert.throws(() => MessageQueue.open(freshKey()), isCode("ENOENT"));
    assert.throws(() => MessageQueue.fromId(-1), RangeError);
    assert.throws(() => MessageQueue.removeById(2 ** 31), RangeError);
    await rejectsWith(
      q.send("x", { type: 0 }),
      (e) => e instanceof RangeError && /type/.test(String(e)),
      "type 0",
    );
    await rejectsWith(q.send("x", { type: -1 }), (e) => e instanceof RangeError, "type -1");
    await rejectsWith(q.send("x", { type: 1.5 }), (e) => e instanceof TypeError, "type 1.5");
    await rejectsWith(
      q.send(42 as unknown as string),
      (e) => e instanceof TypeError && /data/.test(String(e)),
      "data",
    );
    await rejectsWith(q.send("x", { timeout: -1 }), (e) => e instanceof RangeError, "timeout");
    await rejectsWith(
      q.send("x", { signal: {} as AbortSignal }),
      (e) => e instanceof TypeError,
      "signal",
    );
    await rejectsWith(
      q.receive({ maxSize: -1 }),
      (e) => e instanceof RangeError && /maxSize/.test(String(e)),
      "maxSize",
    );
    await rejectsWith(
      q.receive({ type: "1" as unknown as number }),
      (e) => e instanceof TypeError,
      "type",
    );
    assert.throws(() => q.trySend("x", { type: 2 ** 63 }), RangeError);
    assert.throws(() => q.setMaxBytes(-5), RangeError);
    await assert.rejects(q.messages({ type: NaN }).next(), TypeError);
    assert.throws(
      () => new (MessageQueue as unknown as new () => unknown)(),
      /not constructed directly/,
    );
    assert.equal(q.stat().messageCount, 0, "nothing was sent");
  });
});

test("a queue's waits run off the event loop: timers keep firing while a receive waits", async () => {
  await withQueue({}, async (q) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await rejectsWith(q.receive({ timeout: 200 }), isName("TimeoutError"), "receive");
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 5, `timers ran ${ticks} times during the wait`);
  });
});

test("msg_server/msg_client: three client processes at once each get exactly their own replies", async () => {
  await withQueue({}, async (q) => {
    const served = msgServer(q, 12, () => {});
    const outs = await Promise.all([0, 1, 2].map(() => {
      const [cmd, argv] = exampleArgv("msg_client.ts", [q.id, 4]);
      return run(cmd, argv);
    }));
    const pids = await served;
    for (const out of outs) {
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(
        out.stdout.trim().split("\n"),
        [1, 2, 3, 4].map((i) => `reply: HELLO NUMBER ${i} (from server ${process.pid})`),
      );
    }
    assert.equal(new Set(pids).size, 3, "three clients were served");
    assert.equal(q.stat().messageCount, 0, "no reply was left behind");
  });
});
