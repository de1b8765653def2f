// What one synchronous FFI call costs through the library's backend on this
// runtime: `abs()` (no syscall: the FFI's own cost), `labs()` (the same with
// a 64-bit result), `getpid()` (a syscall with nothing to convert) and a 64 KiB
// `write()` + `read()` through a pipe (a buffer argument and a 64-bit
// result). Prints the backend's name, so the same Node run in two projects —
// one with koffi installed, one without — compares koffi with node:ffi.
//
//   node scripts/ffi_bench.mjs .build/node/node_modules/sysipc/esm     (koffi)
//   node scripts/ffi_bench.mjs .build/node26/node_modules/sysipc/esm   (node:ffi on Node 26)
//   deno run -A scripts/ffi_bench.mjs
//
// Medians of 7 rounds; nothing is asserted (the machine may be busy).

const base = process.argv[2]
  ? new URL(`${process.argv[2].replace(/\/$/, "")}/`, `file://${process.cwd()}/`).href
  : new URL("../", import.meta.url).href;
const ext = process.argv[2] ? "js" : "ts";
const { getBackend, libc } = await import(`${base}_ffi/mod.${ext}`);

const sys = libc({
  abs: { parameters: ["i32"], result: "i32" },
  labs: { parameters: ["i64"], result: "i64" },
  getpid: { parameters: [], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
});

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const s = sys();

// One loop per function, so each call site sees one function (a shared loop
// would be polymorphic, and V8 would not inline a fast call there).
const N = 500_000;
const per = (t) => (performance.now() - t) * 1e6 / N;
const calls = {
  abs() {
    const t = performance.now();
    for (let i = 0; i < N; i++) s.abs(i & 1023);
    return per(t);
  },
  labs() {
    const t = performance.now();
    for (let i = 0; i < N; i++) s.labs(i & 1023);
    return per(t);
  },
  getpid() {
    const t = performance.now();
    for (let i = 0; i < N; i++) s.getpid();
    return per(t);
  },
};

const fds = new Int32Array(2);
if (s.pipe2(fds, 0o2000000) !== 0) throw new Error("pipe2 failed");
const out = new Uint8Array(65536).fill(1);
const into = new Uint8Array(65536);
function pipeUs() {
  const n = 10_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    if (Number(s.write(fds[1], out, 65536)) !== 65536) throw new Error("short write");
    if (Number(s.read(fds[0], into, 65536)) !== 65536) throw new Error("short read");
  }
  return (performance.now() - t) * 1e3 / n;
}

for (const f of Object.values(calls)) f();
pipeUs(); // warm-up
const ns = Object.fromEntries(Object.keys(calls).map((k) => [k, []]));
const pipes = [];
for (let r = 0; r < 7; r++) {
  for (const [k, f] of Object.entries(calls)) ns[k].push(f());
  pipes.push(pipeUs());
}
s.close(fds[0]);
s.close(fds[1]);
const runtime = globalThis.Deno
  ? `Deno ${Deno.version.deno}`
  : process.versions.bun
  ? `Bun ${process.versions.bun}`
  : `Node ${process.version}`;
const us = median(pipes);
console.log(
  `${runtime}, ${getBackend().name}: ` +
    Object.keys(calls).map((k) => `${k} ${median(ns[k]).toFixed(0)}`).join(", ") + " ns/call; " +
    `64 KiB write+read ${us.toFixed(1)} µs (${(65536 / us / 1e3).toFixed(2)} GB/s each way)`,
);
