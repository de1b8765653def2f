// Bad input, table-driven (issue 13): every public entry point with wrong
// types, NaN, ±Infinity, negatives, fractions, 2**53, bigints, strings, null,
// closed handles, NUL bytes, missing parents, keys outside 32 bits, modes
// outside 0o7777. Each must be a TypeError, RangeError or IpcError whose
// message names the parameter — thrown, or as a rejection for a promise —
// never a crash, a hang or an engine's own error.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import {
  findStale,
  ftok,
  IPC_PRIVATE,
  IpcError,
  listObjects,
  MessageQueue,
  mkfifo,
  openFifo,
  pipe,
  PipeEnd,
  PosixMessageQueue,
  PosixSemaphore,
  PosixSharedMemory,
  SemaphoreSet,
  SharedMemory,
  spawn,
} from "./_support/lib.ts";
import { tempDir, test } from "./_support/runtime.ts";

/** One try: what is called, the error class it must give, and what its message must name. */
type Try = [
  what: string,
  call: () => unknown,
  error: "TypeError" | "RangeError" | "IpcError",
  names: RegExp,
];

// deno-lint-ignore no-explicit-any
const any = (x: unknown) => x as any;

test("bad input: at least 60 tries, each a TypeError, RangeError or IpcError naming the parameter", async () => {
  const dir = tempDir("sysipc_bad_");
  const p = pipe();
  const closed = pipe();
  closed.close();
  const shm = SharedMemory.create({ size: 4096 });
  const set = SemaphoreSet.create({ count: 2 });
  const q = MessageQueue.create();
  const mem = PosixSharedMemory.create(undefined, { size: 4096 });
  const psem = PosixSemaphore.create();
  const pmq = PosixMessageQueue.create(undefined, { maxMessages: 4, messageSize: 16 });
  const gone = PosixSharedMemory.create(undefined, { size: 4096 });
  gone.close();
  gone.unlink();
  const fifo = `${dir}/fifo`;
  mkfifo(fifo);
  const tries: Try[] = [
    // pipes
    ["pipe({ capacity: -1 })", () => pipe({ capacity: -1 }), "RangeError", /capacity/],
    ["pipe({ capacity: 1.5 })", () => pipe({ capacity: 1.5 }), "TypeError", /capacity/],
    ["pipe({ capacity: NaN })", () => pipe({ capacity: NaN }), "TypeError", /capacity/],
    ["pipe({ capacity: 2**53 })", () => pipe({ capacity: 2 ** 53 }), "RangeError", /capacity/],
    ["pipe(null)", () => pipe(any(null)), "TypeError", /options/],
    ["PipeEnd.fromFd(-1)", () => PipeEnd.fromFd(-1), "RangeError", /fd/],
    ["PipeEnd.fromFd(1.5)", () => PipeEnd.fromFd(1.5), "TypeError", /fd/],
    ['PipeEnd.fromFd("3")', () => PipeEnd.fromFd(any("3")), "TypeError", /fd/],
    ["read(string)", () => p.readEnd.read(any("buf")), "TypeError", /into/],
    ["read(Uint16Array)", () => p.readEnd.read(any(new Uint16Array(2))), "TypeError", /into/],
    ["write(123)", () => p.writeEnd.write(any(123)), "TypeError", /data/],
    ["write(null)", () => p.writeEnd.write(any(null)), "TypeError", /data/],
    ["read() on a closed end", () => closed.readEnd.read(new Uint8Array(1)), "IpcError", /read/],
    ["setCapacity(0)", () => p.writeEnd.setCapacity(0), "RangeError", /bytes/],
    // spawn
    ["spawn(42)", () => spawn(any(42)), "TypeError", /command/],
    ['spawn("")', () => spawn(""), "TypeError", /command/],
    ["spawn(NUL)", () => spawn("tr\0ue"), "TypeError", /command/],
    ['spawn({ args: "x" })', () => spawn("true", { args: any("x") }), "TypeError", /args/],
    ["spawn({ args: [1] })", () => spawn("true", { args: any([1]) }), "TypeError", /args\[0\]/],
    ["spawn({ env: { A: 1 } })", () => spawn("true", { env: any({ A: 1 }) }), "TypeError", /env/],
    ['spawn({ cwd: "/missing" })', () => spawn("true", { cwd: "/missing" }), "IpcError", /cwd/],
    [
      'spawn({ clearEnv: "false" })',
      () => spawn("true", { clearEnv: any("false") }),
      "TypeError",
      /clearEnv/,
    ],
    [
      'spawn({ stdin: "bogus" })',
      () => spawn("true", { stdin: any("bogus") }),
      "TypeError",
      /stdin/,
    ],
    ["spawn({ fds: { 3: 5 } })", () => spawn("true", { fds: any({ 3: 5 }) }), "TypeError", /fds/],
    // FIFOs
    ['mkfifo("")', () => mkfifo(""), "TypeError", /path/],
    ["mkfifo(NUL)", () => mkfifo(`${dir}/a\0b`), "TypeError", /path/],
    [
      "mkfifo({ mode: 0o10000 })",
      () => mkfifo(`${dir}/m1`, { mode: 0o10000 }),
      "RangeError",
      /mode/,
    ],
    ["mkfifo({ mode: -1 })", () => mkfifo(`${dir}/m2`, { mode: -1 }), "RangeError", /mode/],
    ["mkfifo(path, null)", () => mkfifo(`${dir}/m3`, any(null)), "TypeError", /options/],
    ["mkfifo(missing parent)", () => mkfifo(`${dir}/no/such/fifo`), "IpcError", /mkfifo/],
    ['openFifo(path, "rw")', () => openFifo(fifo, any("rw")), "TypeError", /access/],
    [
      "openFifo({ signal: {} })",
      () => openFifo(fifo, "read", any({ signal: {} })),
      "TypeError",
      /signal/,
    ],
    ["openFifo(123)", () => openFifo(any(123), "read"), "TypeError", /path/],
    ["openFifo(path, read, null)", () => openFifo(fifo, "read", any(null)), "TypeError", /options/],
    // System V
    ['ftok("/", 256)', () => ftok("/", 256), "RangeError", /projectId/],
    ['ftok("/", 1.5)', () => ftok("/", 1.5), "TypeError", /projectId/],
    ["ftok(missing)", () => ftok(`${dir}/missing`, 1), "IpcError", /ftok|stat/],
    ["SharedMemory size 0", () => SharedMemory.create({ size: 0 }), "RangeError", /size/],
    ["SharedMemory size 2**53", () => SharedMemory.create({ size: 2 ** 53 }), "RangeError", /size/],
    ["SharedMemory size 10n", () => SharedMemory.create({ size: any(10n) }), "TypeError", /size/],
    [
      "SharedMemory size Infinity",
      () => SharedMemory.create({ size: Infinity }),
      "TypeError",
      /size/,
    ],
    [
      "SharedMemory key 2**32",
      () => SharedMemory.create({ key: 2 ** 32, size: 8 }),
      "RangeError",
      /key/,
    ],
    [
      "SharedMemory mode 0o1000",
      () => SharedMemory.create({ size: 8, mode: 0o1000 }),
      "RangeError",
      /mode/,
    ],
    [
      "SharedMemory.open(IPC_PRIVATE)",
      () => SharedMemory.open(IPC_PRIVATE),
      "RangeError",
      /IPC_PRIVATE|key/,
    ],
    ["SharedMemory.fromId(-1)", () => SharedMemory.fromId(-1), "RangeError", /id/],
    ["view() misaligned", () => shm.view(Int32Array, 1), "RangeError", /byteOffset/],
    ["read(-1)", () => shm.read(-1), "RangeError", /offset/],
    ["shm.write(123)", () => shm.write(any(123)), "TypeError", /data/],
    ["SemaphoreSet count 0", () => SemaphoreSet.create({ count: 0 }), "RangeError", /count/],
    [
      "SemaphoreSet initial -1",
      () => SemaphoreSet.create({ initial: -1 }),
      "RangeError",
      /initial/,
    ],
    [
      "SemaphoreSet initial [1] for 2",
      () => SemaphoreSet.create({ count: 2, initial: [1] }),
      "RangeError",
      /initial/,
    ],
    ["at(5)", () => set.at(5), "RangeError", /index|at/],
    ["acquire({ count: 0 })", () => set.at(0).acquire({ count: 0 }), "RangeError", /count/],
    ["acquire({ timeout: -1 })", () => set.at(0).acquire({ timeout: -1 }), "RangeError", /timeout/],
    [
      'acquire({ signal: "x" })',
      () => set.at(0).acquire({ signal: any("x") }),
      "TypeError",
      /signal/,
    ],
    ["release(1.5)", () => set.at(0).release(1.5), "TypeError", /count/],
    ["setValue(40000)", () => set.at(0).setValue(40000), "RangeError", /value/],
    [
      "MessageQueue maxBytes 0",
      () => MessageQueue.create({ maxBytes: 0 }),
      "RangeError",
      /maxBytes/,
    ],
    ["q.send(123)", () => q.send(any(123)), "TypeError", /data/],
    ["q.send({ type: 0 })", () => q.send("x", { type: 0 }), "RangeError", /type/],
    ["q.receive({ maxSize: -1 })", () => q.receive({ maxSize: -1 }), "RangeError", /maxSize/],
    // the …Sync variants: the same checks, thrown (each row has timeout 0 where the
    // check is on something else, so a missed check is a wrong error, never a hang)
    [
      "acquireSync({ count: 0 })",
      () => set.at(0).acquireSync({ count: 0, timeout: 0 }),
      "RangeError",
      /count/,
    ],
    [
      "acquireSync({ timeout: -1 })",
      () => set.at(0).acquireSync({ timeout: -1 }),
      "RangeError",
      /timeout/,
    ],
    [
      'acquireSync({ timeout: "5" })',
      () => set.at(0).acquireSync({ timeout: any("5") }),
      "TypeError",
      /timeout/,
    ],
    [
      "acquireSync({ signal })",
      () => set.at(0).acquireSync(any({ signal: new AbortController().signal, timeout: 0 })),
      "TypeError",
      /signal/,
    ],
    [
      'acquireSync({ undo: "yes" })',
      () => set.at(0).acquireSync({ undo: any("yes"), timeout: 0 }),
      "TypeError",
      /undo/,
    ],
    ["opSync([])", () => set.opSync([], { timeout: 0 }), "RangeError", /ops/],
    [
      "opSync(index 7)",
      () => set.opSync([{ index: 7, delta: -1 }], { timeout: 0 }),
      "RangeError",
      /index/,
    ],
    [
      "opSync(null options)",
      () => set.opSync([{ index: 0, delta: 1 }], any(null)),
      "TypeError",
      /options/,
    ],
    ["q.sendSync(123)", () => q.sendSync(any(123), { timeout: 0 }), "TypeError", /data/],
    [
      "q.sendSync({ type: 0 })",
      () => q.sendSync("x", { type: 0, timeout: 0 }),
      "RangeError",
      /type/,
    ],
    [
      "q.receiveSync({ maxSize: -1 })",
      () => q.receiveSync({ maxSize: -1, timeout: 0 }),
      "RangeError",
      /maxSize/,
    ],
    [
      "q.receiveSync({ type: 1.5 })",
      () => q.receiveSync({ type: 1.5, timeout: 0 }),
      "TypeError",
      /type/,
    ],
    [
      "q.receiveSync({ timeout: NaN })",
      () => q.receiveSync({ timeout: NaN }),
      "RangeError",
      /timeout/,
    ],
    [
      "psem.acquireSync({ timeout: -Infinity })",
      () => psem.acquireSync({ timeout: -Infinity }),
      "RangeError",
      /timeout/,
    ],
    [
      "pmq.sendSync({ priority: 40000 })",
      () => pmq.sendSync("x", { priority: 40000, timeout: 0 }),
      "RangeError",
      /priority/,
    ],
    [
      "pmq.sendSync(17 bytes)",
      () => pmq.sendSync(new Uint8Array(17), { timeout: 0 }),
      "RangeError",
      /data/,
    ],
    [
      'pmq.receiveSync({ timeout: "1" })',
      () => pmq.receiveSync({ timeout: any("1") }),
      "TypeError",
      /timeout/,
    ],
    ["readSync(string)", () => p.readEnd.readSync(any("buf"), { timeout: 0 }), "TypeError", /into/],
    [
      "readSync({ timeout: -1 })",
      () => p.readEnd.readSync(new Uint8Array(1), { timeout: -1 }),
      "RangeError",
      /timeout/,
    ],
    ["writeSync(null)", () => p.writeEnd.writeSync(any(null)), "TypeError", /data/],
    [
      "readSync() on a closed end",
      () => closed.readEnd.readSync(new Uint8Array(1)),
      "IpcError",
      /read/,
    ],
    // POSIX
    [
      'PosixSharedMemory "noslash"',
      () => PosixSharedMemory.create("noslash", { size: 8 }),
      "TypeError",
      /name/,
    ],
    [
      "PosixSharedMemory name null",
      () => PosixSharedMemory.create(any(null), { size: 8 }),
      "TypeError",
      /name/,
    ],
    [
      "PosixSharedMemory size -1",
      () => PosixSharedMemory.create(undefined, { size: -1 }),
      "RangeError",
      /size/,
    ],
    ["PosixSharedMemory.fromFd(-1)", () => PosixSharedMemory.fromFd(-1), "RangeError", /fd/],
    ['PosixSharedMemory.open("/a/b")', () => PosixSharedMemory.open("/a/b"), "TypeError", /name/],
    [
      "PosixSharedMemory.unlink(gone)",
      () => PosixSharedMemory.unlink(gone.name!),
      "IpcError",
      /shm_unlink/,
    ],
    ["closed memory's bytes", () => gone.bytes, "TypeError", /closed/],
    [
      "PosixSemaphore initial -1",
      () => PosixSemaphore.create(undefined, { initial: -1 }),
      "RangeError",
      /initial/,
    ],
    ["PosixSemaphore.at misaligned", () => PosixSemaphore.at(mem, 3), "RangeError", /byteOffset/],
    [
      "PosixMessageQueue maxMessages 0",
      () => PosixMessageQueue.create(undefined, { maxMessages: 0 }),
      "RangeError",
      /maxMessages/,
    ],
    [
      "pmq.send({ priority: 40000 })",
      () => pmq.send("x", { priority: 40000 }),
      "RangeError",
      /priority/,
    ],
    ["pmq.send(too long)", () => pmq.send("x".repeat(17)), "RangeError", /messageSize|16/],
    // introspection
    [
      'listObjects({ kinds: ["x"] })',
      () => listObjects({ kinds: any(["x"]) }),
      "TypeError",
      /kinds\[0\]/,
    ],
    ["findStale({ olderThan: -1 })", () => findStale({ olderThan: -1 }), "RangeError", /olderThan/],
  ];
  try {
    const failures: string[] = [];
    for (const [what, call, error, names] of tries) {
      let caught: unknown;
      try {
        const r = call();
        if (r instanceof Promise) await r;
        failures.push(`${what}: no error`);
        continue;
      } catch (e) {
        caught = e;
      }
      const e = caught as Error;
      const name = e instanceof IpcError ? "IpcError" : e?.constructor?.name;
      if (name !== error) failures.push(`${what}: ${name} (${e?.message}), not ${error}`);
      else if (!names.test(e.message)) {
        failures.push(`${what}: "${e.message}" does not name ${names}`);
      }
    }
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${tries.length} tries:\n${failures.join("\n")}`,
    );
    assert.ok(tries.length >= 60, `${tries.length} tries`);
  } finally {
    p.close();
    shm.detach();
    shm.remove();
    set.remove();
    q.remove();
    mem.close();
    mem.unlink();
    psem.close();
    psem.unlink();
    pmq.close();
    pmq.unlink();
    rmSync(dir, { recursive: true, force: true });
  }
});
