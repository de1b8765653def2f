// Smoke check of one source on three runtimes (plain JavaScript, so Node 20
// runs it as it is). It imports the library from the .ts source by default,
// or from a package specifier resolved from the working directory, as a user
// would:
//
//   bun scripts/smoke.mjs
//   deno run -A scripts/smoke.mjs
//   (cd /tmp/app && npm install /path/to/sysipc-0.1.0.tgz && node /path/to/scripts/smoke.mjs sysipc)
//
// Checks: pipe write/read, EOF, EPIPE as IpcError, a blocked read that waits
// while a timer keeps ticking, spawn() with a pipe end as the child's stdout,
// and mkfifo()/openFifo() between this process and a child of the same runtime.

const spec = process.argv[2] ?? "../mod.ts";

async function load(name) {
  if (name.startsWith(".")) return await import(new URL(name, import.meta.url).href);
  const { createRequire } = process.getBuiltinModule("node:module");
  const { pathToFileURL } = process.getBuiltinModule("node:url");
  const resolved = createRequire(`${process.cwd()}/`).resolve(name);
  return await import(pathToFileURL(resolved).href);
}

const { IpcError, mkfifo, openFifo, pipe, spawn } = await load(spec);
const enc = new TextEncoder();
const dec = new TextDecoder();

if (process.argv[3] === "--fifo-writer") {
  // The child's side of the FIFO check.
  const w = await openFifo(process.argv[4], "write");
  await w.write(enc.encode(`hello through the FIFO from pid ${process.pid}\n`));
  w.close();
  process.exit(0);
}

const runtime = globalThis.Deno
  ? `Deno ${Deno.version.deno}`
  : globalThis.Bun
  ? `Bun ${Bun.version}`
  : `Node ${process.version}`;
let failed = 0;
let passed = 0;
async function check(name, fn) {
  const opened = [];
  const open = (p) => (opened.push(p), p); // Node 20 has no `using`
  try {
    await fn(open);
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  } finally {
    for (const p of opened) p.close();
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

console.log(`sysipc smoke on ${runtime}, library from ${spec}`);

await check("pipe(): write then read", async (open) => {
  const p = open(pipe());
  assert(await p.writeEnd.write(enc.encode("hello")) === 5, "write count");
  const buf = new Uint8Array(16);
  const n = await p.readEnd.read(buf);
  assert(dec.decode(buf.subarray(0, n)) === "hello", `read ${n}`);
});

await check("read() gives null (EOF) once the writer closed", async (open) => {
  const p = open(pipe());
  p.writeEnd.close();
  assert(await p.readEnd.read(new Uint8Array(8)) === null, "no EOF");
});

await check("write() after the reader closed rejects with IpcError EPIPE", async (open) => {
  const p = open(pipe());
  p.readEnd.close();
  try {
    await p.writeEnd.write(new Uint8Array(1));
    throw new Error("no error");
  } catch (e) {
    assert(e instanceof IpcError && e.code === "EPIPE", `got ${e}`);
  }
});

await check("a blocked read waits while a timer keeps ticking", async (open) => {
  const p = open(pipe());
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  setTimeout(() => p.writeEnd.write(enc.encode("!")), 300);
  const t0 = performance.now();
  const n = await p.readEnd.read(new Uint8Array(4));
  const ms = performance.now() - t0;
  clearInterval(timer);
  assert(n === 1, `read ${n}`);
  assert(ms >= 250, `returned after ${ms} ms`);
  assert(ticks >= 15, `only ${ticks} ticks in ${ms} ms`);
});

await check("spawn(): child writes to our pipe as its stdout", async () => {
  const p = pipe();
  const child = spawn("sh", { args: ["-c", "echo hello from $0"], stdout: p.writeEnd });
  p.writeEnd.close();
  const text = await new Response(p.readable).text();
  const status = await child.status;
  assert(text === "hello from sh\n", JSON.stringify(text));
  assert(status.success && status.code === 0, JSON.stringify(status));
});

await check("mkfifo()/openFifo() between two processes", async () => {
  const { mkdtempSync, rmSync } = process.getBuiltinModule("node:fs");
  const dir = mkdtempSync("/tmp/sysipc-smoke-");
  try {
    const path = `${dir}/myfifo`;
    mkfifo(path);
    const reading = openFifo(path, "read"); // waits for the child
    const script = new URL(import.meta.url).pathname;
    const args = globalThis.Deno ? ["run", "-A", script] : [script];
    const child = spawn(process.execPath, { args: [...args, spec, "--fifo-writer", path] });
    const r = await reading;
    const text = await new Response(r.readable).text();
    const status = await child.status;
    assert(text === `hello through the FIFO from pid ${child.pid}\n`, JSON.stringify(text));
    assert(status.success, JSON.stringify(status));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

console.log(`${passed} passed, ${failed} failed`);
if (failed) process.exit(1);
