// The measuring side of bench/channel_bench.ts, in plain JavaScript so that
// the very same code runs on Deno, Node and Bun (started like pipe_roles.mjs,
// with `--lib` and, under a split pinning, `--peer-cpus`). Roles print one
// JSON line:
//
//   stream --via view|copy --bytes B --chunk N --capacity C
//                  our Channel: this process send()s B bytes in N-byte
//                  messages to a child of the same runtime (`sink`), which
//                  receives them with receiveView()/release() (view: the
//                  bytes are not read) or receive() (copy), times the first
//                  message → the last, and sends its figures back over the
//                  channel. {"bytes","timedBytes","ns","messages","futex":{"tx","rx"}}
//   stream-c       the same, to the C sink of bench/bin/channel_ring (LAYOUT.md)
//   stream-pipe --bytes B --chunk N
//                  our pipe(): PipeEnd.write() here → PipeEnd.read() in a
//                  child of the same runtime (`pipe-sink`, fd 3), which times
//                  the first read → EOF and prints its figures on stdout
//                  (a second pipe). {"bytes","timedBytes","ns"}
//   small --messages M
//                  one way, 64-byte messages: send() × M here, receive() × M
//                  in the child (`small-sink`), which times first → last and
//                  reports back as for stream. {"messages","ns","futex":{"tx","rx"}}
//   ping --peer self|node-ipc|bun-ipc|deno-stdio
//                  64-byte round trips, warm-up and timing as timeRounds() in
//                  _role.mjs: self = our Channel to a child of the same
//                  runtime (`pong`: receive() then send() back); node-ipc =
//                  child_process.fork + process.send (Node); bun-ipc =
//                  Bun.spawn({ ipc }) + process.send (Bun); deno-stdio = a
//                  Deno.Command child echoing its stdin to its stdout (Deno).
//                  {"rounds","ns"} (+ "futex" for self)
//
// futex counts come from the library's internal `futexCalls` (channel/_sys),
// reached beside the `--lib` entry like any other module of it.

import { pathToFileURL } from "node:url";
import {
  bin,
  int,
  mustSucceed,
  readAll,
  run,
  selfArgv,
  spawnPeer as startPeer,
  start,
  timeRounds,
} from "./_role.mjs";

const SELF = new URL(import.meta.url).pathname;
const MSG = 64;
const TIMEOUT = 120_000;

const { values, role, lib } = await start({
  bytes: { type: "string", default: String(1024 ** 3) },
  chunk: { type: "string", default: "65536" },
  capacity: { type: "string", default: String(1 << 20) },
  via: { type: "string", default: "view" },
  messages: { type: "string", default: "1000000" },
});
const { Channel, pipe, PipeEnd, spawn } = lib;
const spawnPeer = (cmd, options) => startPeer(spawn, values, cmd, options);
const ext = values.lib.endsWith(".ts") ? ".ts" : ".js";
const { futexCalls } = await import(
  new URL(`channel/_sys${ext}`, pathToFileURL(values.lib)).href
);

const counted = () => ({ wait: futexCalls.wait, wake: futexCalls.wake });
const since = (t) => ({ wait: futexCalls.wait - t.wait, wake: futexCalls.wake - t.wake });
const text = (bytes) => new TextDecoder().decode(bytes);
const self = (...args) => selfArgv(SELF, "--lib", values.lib, ...args);

/** Sends `bytes` in `chunk`-byte messages on a new channel to `peer`, then reads its report. */
async function streamTo(peer, bytes, chunk, capacity) {
  const ch = Channel.create({ capacity });
  try {
    let child, report;
    if (peer === "c") {
      report = pipe();
      child = spawnPeer(bin("channel_ring"), {
        args: ["sink", "3"],
        channel: ch,
        stdout: report.writeEnd,
      });
      report.writeEnd.close();
    } else {
      const [cmd, args] = self(peer, "--via", values.via, "--bytes", String(bytes));
      child = spawnPeer(cmd, { args, channel: ch });
    }
    const msg = new Uint8Array(chunk).fill(120);
    const t = counted();
    for (let left = bytes; left > 0; left -= chunk) {
      await ch.send(left >= chunk ? msg : msg.subarray(0, left), { timeout: TIMEOUT });
    }
    let result;
    if (peer === "c") {
      const tx = since(t);
      ch.close(); // the C sink reads to the end
      result = JSON.parse(await readAll(report.readEnd));
      result.futex.tx = tx;
    } else {
      const line = await ch.receive({ timeout: TIMEOUT });
      if (line === null) throw new Error("the sink closed without a report");
      const tx = since(t);
      result = JSON.parse(text(line));
      result.futex = { tx, rx: result.futex };
    }
    await mustSucceed(child.status, `${peer} peer`);
    return result;
  } finally {
    ch.close();
  }
}

/** The child of `stream` and `small`: receives what the parent sends, reports back. */
async function sink(bytes, messages) {
  const ch = Channel.fromParent();
  const copy = values.via === "copy" || messages > 0;
  const t = counted();
  let total = 0, first = 0, t0 = 0, n = 0;
  while (messages > 0 ? n < messages : total < bytes) {
    let len;
    if (copy) {
      const m = await ch.receive({ timeout: TIMEOUT });
      if (m === null) throw new Error("the channel ended early");
      len = m.length;
    } else {
      const v = await ch.receiveView({ timeout: TIMEOUT });
      if (v === null) throw new Error("the channel ended early");
      len = v.length;
      ch.release();
    }
    if (n === 0) {
      t0 = performance.now();
      first = len;
    }
    n++;
    total += len;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  const futex = since(t);
  await ch.send(
    JSON.stringify({ bytes: total, timedBytes: total - first, ns, messages: n, futex }),
    { timeout: TIMEOUT },
  );
  ch.close();
}

async function small(messages) {
  const ch = Channel.create();
  try {
    const [cmd, args] = self("small-sink", "--messages", String(messages));
    const child = spawnPeer(cmd, { args, channel: ch });
    const msg = new Uint8Array(MSG).fill(109);
    const t = counted();
    for (let i = 0; i < messages; i++) await ch.send(msg, { timeout: TIMEOUT });
    const line = await ch.receive({ timeout: TIMEOUT });
    if (line === null) throw new Error("the sink closed without a report");
    const tx = since(t);
    const r = JSON.parse(text(line));
    await mustSucceed(child.status, "small-sink");
    return { messages: r.messages, ns: r.ns, futex: { tx, rx: r.futex } };
  } finally {
    ch.close();
  }
}

async function streamPipe(bytes, chunk) {
  const p = pipe();
  const report = pipe();
  const [cmd, args] = self("pipe-sink", "--chunk", String(chunk));
  const child = spawnPeer(cmd, { args, fds: { 3: p.readEnd }, stdout: report.writeEnd });
  p.readEnd.close();
  report.writeEnd.close();
  const w = p.writeEnd;
  const buf = new Uint8Array(chunk).fill(120);
  for (let left = bytes; left > 0; left -= chunk) {
    await w.write(left >= chunk ? buf : buf.subarray(0, left));
  }
  w.close();
  const out = await readAll(report.readEnd);
  await mustSucceed(child.status, "pipe-sink");
  return JSON.parse(out.trim().split("\n").at(-1));
}

async function pipeSink(chunk) {
  const r = PipeEnd.fromFd(3);
  const buf = new Uint8Array(chunk);
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const n = await r.read(buf);
    if (n === null) break;
    if (total === 0) {
      t0 = performance.now();
      first = n;
    }
    total += n;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  r.close();
  return { bytes: total, timedBytes: total - first, ns };
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

/** A 64-character string: what process.send and Bun's ipc carry (serialised). */
const MSG_STRING = "x".repeat(MSG);

async function pingSelf() {
  const ch = Channel.create();
  try {
    const [cmd, args] = self("pong");
    const child = spawnPeer(cmd, { args, channel: ch });
    const msg = new Uint8Array(MSG).fill(112);
    let t;
    const result = await timeRounds(values, async () => {
      t ??= counted(); // from the first round on (start-up excluded)
      await ch.send(msg);
      if ((await ch.receive({ timeout: TIMEOUT })) === null) throw new Error("pong ended");
    });
    const tx = since(t);
    ch.close();
    await mustSucceed(child.status, "pong");
    return { ...result, futex: tx };
  } finally {
    ch.close();
  }
}

async function pong() {
  const ch = Channel.fromParent();
  try {
    for (;;) {
      const m = await ch.receive();
      if (m === null) return;
      await ch.send(m);
    }
  } finally {
    ch.close();
  }
}

/** Round trips with `post(message)` to a child whose answers arrive through `onAnswer`. */
function messagePing(post) {
  let answered;
  const onAnswer = () => answered();
  const once = () =>
    new Promise((resolve) => {
      answered = resolve;
      post(MSG_STRING);
    });
  return { onAnswer, once };
}

async function pingNodeIpc() {
  if (globalThis.Deno || globalThis.Bun) throw new Error("node-ipc is Node's child_process.fork");
  const { fork } = await import("node:child_process");
  const cpus = values["peer-cpus"];
  const child = fork(SELF, ["--lib", values.lib, "ipc-pong"], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    ...(cpus === undefined
      ? {}
      : { execPath: "taskset", execArgv: ["-c", cpus, process.execPath] }),
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const { onAnswer, once } = messagePing((m) => child.send(m));
  child.on("message", onAnswer);
  try {
    return await timeRounds(values, once);
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
}

async function pingBunIpc() {
  if (!globalThis.Bun) throw new Error("bun-ipc is Bun.spawn({ ipc })");
  const cpus = values["peer-cpus"];
  const argv = [process.execPath, SELF, "--lib", values.lib, "ipc-pong"];
  let onAnswer = () => {};
  const child = Bun.spawn({
    cmd: cpus === undefined ? argv : ["taskset", "-c", cpus, ...argv],
    stdio: ["ignore", "inherit", "inherit"],
    ipc: () => onAnswer(),
  });
  const p = messagePing((m) => child.send(m));
  onAnswer = p.onAnswer;
  try {
    return await timeRounds(values, p.once);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/** A child of fork() or Bun.spawn({ ipc }): every message goes back, until the parent goes. */
function ipcPong() {
  return new Promise((resolve) => {
    process.on("message", (m) => process.send(m));
    process.on("disconnect", resolve);
  });
}

async function pingDenoStdio() {
  if (!globalThis.Deno) throw new Error("deno-stdio is Deno.Command");
  const cpus = values["peer-cpus"];
  const [cmd, args] = self("stdio-pong");
  const child = new Deno.Command(cpus === undefined ? cmd : "taskset", {
    args: cpus === undefined ? args : ["-c", cpus, cmd, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  const msg = new Uint8Array(MSG).fill(112);
  try {
    return await timeRounds(values, async () => {
      await writer.write(msg);
      for (let got = 0; got < MSG;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("stdio-pong ended");
        got += value.length;
      }
    });
  } finally {
    await writer.close().catch(() => {});
    await child.status;
  }
}

/** Echoes stdin to stdout in 64-byte messages until end of file (Deno). */
async function stdioPong() {
  const buf = new Uint8Array(MSG);
  for (;;) {
    let got = 0;
    while (got < MSG) {
      const n = await Deno.stdin.read(buf.subarray(got));
      if (n === null) return;
      got += n;
    }
    for (let put = 0; put < MSG;) put += await Deno.stdout.write(buf.subarray(put));
  }
}

function ping(peer) {
  switch (peer) {
    case "self":
      return pingSelf();
    case "node-ipc":
      return pingNodeIpc();
    case "bun-ipc":
      return pingBunIpc();
    case "deno-stdio":
      return pingDenoStdio();
    default:
      throw new Error(`Unknown --peer ${peer} (self, node-ipc, bun-ipc or deno-stdio)`);
  }
}

const bytes = () => int(values.bytes, 1);
const chunk = () => int(values.chunk, 1);
const capacity = () => int(values.capacity, 4096);
const messages = () => int(values.messages, 1);
await run(role, {
  stream: () => streamTo("sink", bytes(), chunk(), capacity()),
  "stream-c": () => streamTo("c", bytes(), chunk(), capacity()),
  sink: () => sink(bytes(), 0),
  "stream-pipe": () => streamPipe(bytes(), chunk()),
  "pipe-sink": () => pipeSink(chunk()),
  small: () => small(messages()),
  "small-sink": () => sink(0, messages()),
  ping: () => ping(values.peer),
  pong,
  "ipc-pong": ipcPong,
  "stdio-pong": stdioPong,
});
