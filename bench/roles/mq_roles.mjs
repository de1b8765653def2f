// The measuring side of bench/mq_bench.ts, in plain JavaScript so that the
// very same code runs on Deno, Node and Bun (see bench/roles/_role.mjs for
// the shared options: --lib, --peer self|c, --peer-cpus, the round-trip
// options). Roles print one JSON line:
//
//   sysv-ping          round trips over one IPC_PRIVATE MessageQueue: send
//                      --size bytes as type 1, receive the answer of type 2;
//                      the peer is a child of the same runtime (sysv-pong) or
//                      bench/bin/msg_pingpong pong. {"rounds","ns"}
//   sysv-pong --id ID  receive type 1, answer type 2, until the queue is removed
//   posix-ping         the same over two PosixMessageQueues (a → peer → b),
//                      the peer posix-pong or bench/bin/pmq_pingpong pong;
//                      an empty message stops it. {"rounds","ns"}
//   posix-pong --in A --out B
//   sysv-oneway / posix-oneway
//                      --count messages of --size bytes from a sender child
//                      of the same runtime (sysv-send / posix-send); timed
//                      from the first receive to the last. {"messages","ns"}
//   idle --family sysv|posix --ms MS
//                      one receive that waits MS ms for nothing (after a warm
//                      wait has started the off-thread machinery): the CPU
//                      the whole process used meanwhile. {"cpuPercent"}
//
// POSIX queues are made with maxMessages 10 (Linux's default fs.mqueue.msg_max
// for an unprivileged user) and messageSize max(--size, 64), as the C peer does.

import process from "node:process";
import { bin, int, run, selfArgv, spawnPeer as startPeer, start, timeRounds } from "./_role.mjs";

const SELF = new URL(import.meta.url).pathname;

const { values, role, lib } = await start({
  id: { type: "string" },
  in: { type: "string" },
  out: { type: "string" },
  name: { type: "string" },
  size: { type: "string", default: "64" },
  count: { type: "string", default: "100000" },
  family: { type: "string", default: "sysv" },
  ms: { type: "string", default: "10000" },
});
const { IpcError, MessageQueue, PosixMessageQueue, spawn } = lib;
const spawnPeer = (cmd, options) => startPeer(spawn, values, cmd, options);
const size = int(values.size, 0);
const payload = new Uint8Array(size).fill(120);
const self = (...args) => {
  const sync = values.sync ? ["--sync"] : [];
  const [cmd, argv] = selfArgv(SELF, "--lib", values.lib, ...args, ...sync);
  return spawnPeer(cmd, { args: argv });
};
const gone = (e) => e instanceof IpcError && (e.code === "EIDRM" || e.code === "EINVAL");
let names = 0;
const freshName = () => `/sysipc_bench_${process.pid}_${names++}`;
const posixQueue = (name) =>
  PosixMessageQueue.create(name, { maxMessages: 10, messageSize: Math.max(size, 64) });

/** Removes a queue this role made (a System V queue, or a POSIX one and its name). */
function drop(q) {
  if (q instanceof MessageQueue) {
    q.remove();
    q[Symbol.dispose]();
  } else {
    q.close();
    PosixMessageQueue.unlink(q.name);
  }
}

/** A receive that must time out after `ms`: nobody sends to this queue. */
async function timesOut(q, ms) {
  try {
    await q.receive({ timeout: ms });
  } catch (e) {
    if (e?.name === "TimeoutError") return;
    throw e;
  }
  throw new Error("a message arrived on a queue nobody writes");
}

/** One receive that waits off-thread and times out, so the one-time start is not timed. */
async function warmOffThread() {
  const q = MessageQueue.create();
  try {
    await timesOut(q, 5);
  } finally {
    drop(q);
  }
}

async function finish(child, what) {
  const st = await child.status;
  if (!st.success) throw new Error(`${what} peer failed: code ${st.code}`);
}

async function sysvPing(peer) {
  await warmOffThread();
  const q = MessageQueue.create();
  try {
    const child = peer === "self"
      ? self("sysv-pong", "--id", String(q.id), "--size", String(size))
      : peer === "c"
      ? spawnPeer(bin("msg_pingpong"), { args: ["pong", String(q.id), String(size)] })
      : undefined;
    if (!child) throw new Error(`Unknown --peer ${peer} (self or c)`);
    const result = await timeRounds(
      values,
      values.sync
        ? () => {
          q.sendSync(payload, { type: 1 });
          q.receiveSync({ type: 2 });
        }
        : async () => {
          await q.send(payload, { type: 1 });
          await q.receive({ type: 2 });
        },
    );
    q.remove(); // the peer's receive fails with EIDRM: it exits
    await finish(child, peer);
    return result;
  } finally {
    q.remove();
    q[Symbol.dispose]();
  }
}

async function sysvPong(id) {
  await warmOffThread();
  const q = MessageQueue.fromId(id);
  try {
    for (;;) {
      let m;
      try {
        if (values.sync) {
          m = q.receiveSync({ type: 1 });
          q.sendSync(m.data, { type: 2 });
        } else {
          m = await q.receive({ type: 1 });
          await q.send(m.data, { type: 2 });
        }
      } catch (e) {
        if (gone(e)) return;
        throw e;
      }
    }
  } finally {
    q[Symbol.dispose]();
  }
}

async function posixPing(peer) {
  const a = freshName(), b = freshName();
  const qa = posixQueue(a), qb = posixQueue(b);
  try {
    const child = peer === "self"
      ? self("posix-pong", "--in", a, "--out", b, "--size", String(size))
      : peer === "c"
      ? spawnPeer(bin("pmq_pingpong"), { args: ["pong", a, b, String(size)] })
      : undefined;
    if (!child) throw new Error(`Unknown --peer ${peer} (self or c)`);
    const result = await timeRounds(
      values,
      values.sync
        ? () => {
          qa.sendSync(payload);
          qb.receiveSync();
        }
        : async () => {
          await qa.send(payload);
          await qb.receive();
        },
    );
    await qa.send(new Uint8Array(0)); // stop
    await finish(child, peer);
    return result;
  } finally {
    qa.close();
    qb.close();
    PosixMessageQueue.unlink(a);
    PosixMessageQueue.unlink(b);
  }
}

async function posixPong(inName, outName) {
  // No `using`: Node 20 cannot parse it.
  const qin = PosixMessageQueue.open(inName, { access: "read" });
  const qout = PosixMessageQueue.open(outName, { access: "write" });
  try {
    for (;;) {
      const { data } = values.sync ? qin.receiveSync() : await qin.receive();
      if (data.length === 0) return;
      if (values.sync) qout.sendSync(data);
      else await qout.send(data);
    }
  } finally {
    qin.close();
    qout.close();
  }
}

async function oneway(family, count) {
  let q, child, name;
  if (family === "sysv") {
    await warmOffThread();
    q = MessageQueue.create();
    child = self(
      "sysv-send",
      "--id",
      String(q.id),
      "--count",
      String(count),
      "--size",
      String(size),
    );
  } else {
    name = freshName();
    q = posixQueue(name);
    child = self("posix-send", "--name", name, "--count", String(count), "--size", String(size));
  }
  try {
    let t0 = 0;
    for (let i = 0; i < count; i++) {
      await q.receive();
      if (i === 0) t0 = performance.now();
    }
    const ns = Math.round((performance.now() - t0) * 1e6);
    await finish(child, "sender");
    return { messages: count - 1, ns };
  } finally {
    drop(q);
  }
}

async function send(family, count) {
  if (family === "sysv") {
    const q = MessageQueue.fromId(int(values.id));
    try {
      for (let i = 0; i < count; i++) await q.send(payload, { type: 1 });
    } finally {
      q[Symbol.dispose]();
    }
  } else {
    const q = PosixMessageQueue.open(values.name, { access: "write" });
    try {
      for (let i = 0; i < count; i++) await q.send(payload);
    } finally {
      q.close();
    }
  }
}

async function idle(family, ms) {
  let q;
  if (family === "sysv") {
    await warmOffThread();
    q = MessageQueue.create();
  } else {
    q = posixQueue(freshName());
    await timesOut(q, 5); // the shared waiter starts
  }
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await timesOut(q, ms);
    const wallUs = (performance.now() - t0) * 1000;
    const cpu = process.cpuUsage(cpu0);
    return { cpuPercent: ((cpu.user + cpu.system) / wallUs) * 100, ms };
  } finally {
    drop(q);
  }
}

await run(role, {
  "sysv-ping": () => sysvPing(values.peer),
  "sysv-pong": () => sysvPong(int(values.id)),
  "posix-ping": () => posixPing(values.peer),
  "posix-pong": () => posixPong(values.in, values.out),
  "sysv-oneway": () => oneway("sysv", int(values.count, 2)),
  "posix-oneway": () => oneway("posix", int(values.count, 2)),
  "sysv-send": () => send("sysv", int(values.count, 1)),
  "posix-send": () => send("posix", int(values.count, 1)),
  idle: () => idle(values.family, int(values.ms, 1)),
});
