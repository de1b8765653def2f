// What one off-thread (`nonblocking`) call costs on this runtime, next to a
// synchronous call, and a 1-byte echo round trip through a `cat` child (the
// reader parks on the shared waiter when its spin finds nothing).
//
//   bun scripts/offthread_bench.mjs
//   deno run -A scripts/offthread_bench.mjs
//   node scripts/offthread_bench.mjs npm/esm     (after scripts/build_npm.ts)

const base = process.argv[2]
  ? new URL(`${process.argv[2].replace(/\/$/, "")}/`, `file://${process.cwd()}/`).href
  : new URL("../", import.meta.url).href;
const ext = process.argv[2] ? "js" : "ts";
const { getBackend, libc } = await import(`${base}_ffi/mod.${ext}`);
const { pipe, spawn } = await import(`${base}pipe/mod.${ext}`);

const sys = libc({
  getpid: { parameters: [], result: "i32" },
  getpid_off: { name: "getpid", parameters: [], result: "i32", nonblocking: true },
});

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const N = 100_000;
let t = performance.now();
for (let i = 0; i < N; i++) sys().getpid();
const syncNs = (performance.now() - t) * 1e6 / N;

t = performance.now();
await sys().getpid_off();
const firstMs = performance.now() - t;
for (let i = 0; i < 200; i++) await sys().getpid_off();
const hot = [];
for (let i = 0; i < 2000; i++) {
  t = performance.now();
  await sys().getpid_off();
  hot.push((performance.now() - t) * 1000);
}
// After a pause the pool thread has gone to sleep: the usual case for a wait.
const cold = [];
for (let i = 0; i < 200; i++) {
  await sleep(2);
  t = performance.now();
  await sys().getpid_off();
  cold.push((performance.now() - t) * 1000);
}

const toCat = pipe();
const fromCat = pipe();
const cat = spawn("cat", { stdin: toCat.readEnd, stdout: fromCat.writeEnd });
toCat.readEnd.close();
fromCat.writeEnd.close();
const one = new Uint8Array(1);
const echo = [];
for (let i = 0; i < 2200; i++) {
  t = performance.now();
  await toCat.writeEnd.write(one);
  await fromCat.readEnd.read(one);
  if (i >= 200) echo.push((performance.now() - t) * 1000);
}
toCat.writeEnd.close();
await cat.status;
fromCat.close();

console.log(`${getBackend().name}:`);
console.log(`  synchronous call (getpid):            ${syncNs.toFixed(0)} ns`);
console.log(`  first off-thread call:               ${firstMs.toFixed(1)} ms (starts a thread)`);
console.log(`  off-thread call, back to back:       ${median(hot).toFixed(1)} µs (median)`);
console.log(`  off-thread call after a 2 ms pause:  ${median(cold).toFixed(1)} µs (median)`);
console.log(`  1-byte echo through cat:             ${median(echo).toFixed(1)} µs (median)`);
