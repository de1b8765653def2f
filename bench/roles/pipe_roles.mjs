// The measuring side of bench/pipe_bench.ts, in plain JavaScript so that the
// very same code runs on Deno, Node and Bun. The orchestrator starts it inside
// a pinned process tree, once per sample:
//
//   deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env \
//        bench/roles/pipe_roles.mjs --lib /abs/mod.ts ROLE [options]
//   bun  bench/roles/pipe_roles.mjs --lib /abs/mod.ts ROLE [options]
//   node bench/roles/pipe_roles.mjs --lib /abs/npm/esm/mod.js ROLE [options]
//
// `--lib` is the library's entry module: the .ts source (Deno, Bun) or the
// compiled npm build (Node 20 runs no TypeScript). `--peer-cpus LIST` starts
// the peer a role talks to (C program or second runtime process) under
// `taskset -c LIST`. Roles print one JSON line:
//
//   our-read     C writer (bench/bin/pipe_writer) → PipeEnd.read()
//                {"bytes","timedBytes","ns"}, clock from the first read to EOF
//   our-stream   the same through the BYOB byte `readable`
//   our-read-sync  the same with PipeEnd.readSync() (blocks the thread, as C does)
//   our-write    PipeEnd.write() → C reader (bench/bin/pipe_reader), which times it
//   our-write-sync the same with PipeEnd.writeSync()
//   command-read C writer → Deno.Command stdout (Deno only)
//   ping         64-byte round trips over two of our pipes; --peer self (a
//                child of the same runtime running `pong`) or c (pipe_pingpong).
//                Warm-up: one wait that parks off-thread, then --warmup rounds
//                and at least --warmup-ms after the peer answered (JIT tiers
//                settle: Node and Bun need ~15 000–30 000 rounds); then up to
//                --rounds timed rounds, at most --max-ms. {"rounds","ns"}
//   pong         echo fd 3 → fd 4 in 64-byte messages until EOF

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

const CHUNK = 65536;
const MSG = 64;
const SELF = new URL(import.meta.url).pathname;

const { values, role, lib } = await start({
  bytes: { type: "string", default: String(2 * 1024 ** 3) },
});
const { pipe, PipeEnd, spawn } = lib;
const spawnPeer = (cmd, options) => startPeer(spawn, values, cmd, options);

async function ourRead(bytes, sync) {
  const p = pipe();
  const child = spawnPeer(bin("pipe_writer"), {
    args: [String(bytes), String(CHUNK)],
    stdout: p.writeEnd,
  });
  p.writeEnd.close();
  const r = p.readEnd;
  const buf = new Uint8Array(CHUNK);
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const n = sync ? r.readSync(buf) : await r.read(buf);
    if (n === null) break;
    if (total === 0) {
      t0 = performance.now();
      first = n;
    }
    total += n;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  r.close();
  await mustSucceed(child.status, "pipe_writer");
  return { bytes: total, timedBytes: total - first, ns };
}

async function ourStream(bytes) {
  const p = pipe();
  const child = spawnPeer(bin("pipe_writer"), {
    args: [String(bytes), String(CHUNK)],
    stdout: p.writeEnd,
  });
  p.writeEnd.close();
  const reader = p.readEnd.readable.getReader({ mode: "byob" });
  let buf = new Uint8Array(CHUNK);
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const { value, done } = await reader.read(buf);
    if (done) break;
    const n = value.byteLength;
    if (total === 0) {
      t0 = performance.now();
      first = n;
    }
    total += n;
    buf = new Uint8Array(value.buffer); // the transferred buffer, full size again
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  await mustSucceed(child.status, "pipe_writer");
  return { bytes: total, timedBytes: total - first, ns };
}

async function ourWrite(bytes, sync) {
  const p = pipe();
  const report = pipe(); // the reader's stdout: its JSON line
  const child = spawnPeer(bin("pipe_reader"), {
    args: [String(CHUNK)],
    stdin: p.readEnd,
    stdout: report.writeEnd,
  });
  p.readEnd.close();
  report.writeEnd.close();
  const w = p.writeEnd;
  const buf = new Uint8Array(CHUNK).fill(120);
  for (let left = bytes; left > 0; left -= CHUNK) {
    if (sync) w.writeSync(left >= CHUNK ? buf : buf.subarray(0, left));
    else await w.write(left >= CHUNK ? buf : buf.subarray(0, left));
  }
  w.close();
  const text = await readAll(report.readEnd);
  await mustSucceed(child.status, "pipe_reader");
  return JSON.parse(text);
}

async function commandRead(bytes) {
  if (!globalThis.Deno) throw new Error("command-read is Deno's Deno.Command");
  const cpus = values["peer-cpus"];
  const writer = [bin("pipe_writer"), String(bytes), String(CHUNK)];
  const child = new Deno.Command(cpus === undefined ? writer[0] : "taskset", {
    args: cpus === undefined ? writer.slice(1) : ["-c", cpus, ...writer],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (total === 0) {
      t0 = performance.now();
      first = value.byteLength;
    }
    total += value.byteLength;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  await mustSucceed(child.status, "pipe_writer");
  return { bytes: total, timedBytes: total - first, ns };
}

/**
 * One read that parks on the shared waiter (a scratch pipe written 20 ms
 * later), so that the off-thread worker's one-time start — a Worker loading
 * koffi takes ~50 ms on Node, ~6 ms on Bun, < 1 ms for Deno's pool thread —
 * happens during the warm-up, not in the timed rounds.
 */
async function warmOffThread() {
  const p = pipe();
  try {
    const later = new Promise((resolve) => setTimeout(resolve, 20))
      .then(() => p.writeEnd.write(new Uint8Array(1)));
    await p.readEnd.read(new Uint8Array(1));
    await later;
  } finally {
    p.close();
  }
}

async function ping(peer) {
  await warmOffThread();
  const to = pipe();
  const from = pipe();
  const fds = { 3: to.readEnd, 4: from.writeEnd };
  let child;
  if (peer === "self") {
    const [cmd, args] = selfArgv(SELF, "--lib", values.lib, "pong");
    child = spawnPeer(cmd, { args, fds });
  } else if (peer === "c") {
    child = spawnPeer(bin("pipe_pingpong"), { args: ["pong", "3", "4", String(MSG)], fds });
  } else {
    throw new Error(`Unknown --peer ${peer} (self or c)`);
  }
  to.readEnd.close();
  from.writeEnd.close();
  const w = to.writeEnd, r = from.readEnd;
  const msg = new Uint8Array(MSG), back = new Uint8Array(MSG);
  const once = async () => {
    await w.write(msg);
    let got = 0;
    while (got < MSG) {
      const n = await r.read(got === 0 ? back : back.subarray(got));
      if (n === null) throw new Error("The echo peer closed early");
      got += n;
    }
  };
  const result = await timeRounds(values, once);
  w.close();
  await mustSucceed(child.status, `${peer} echo peer`);
  r.close();
  return result;
}

async function pong() {
  await warmOffThread();
  const inp = PipeEnd.fromFd(3);
  const out = PipeEnd.fromFd(4);
  const buf = new Uint8Array(MSG);
  try {
    for (;;) {
      let got = 0;
      while (got < MSG) {
        const n = await inp.read(got === 0 ? buf : buf.subarray(got));
        if (n === null) {
          if (got === 0) return;
          throw new Error("Torn message at end of file");
        }
        got += n;
      }
      await out.write(buf);
    }
  } finally {
    inp.close();
    out.close();
  }
}

const bytes = () => int(values.bytes, 1);
await run(role, {
  "our-read": () => ourRead(bytes(), false),
  "our-read-sync": () => ourRead(bytes(), true),
  "our-stream": () => ourStream(bytes()),
  "our-write": () => ourWrite(bytes(), false),
  "our-write-sync": () => ourWrite(bytes(), true),
  "command-read": () => commandRead(bytes()),
  ping: () => ping(values.peer),
  pong,
});
