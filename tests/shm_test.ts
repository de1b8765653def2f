import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import {
  ftok,
  IPC,
  IPC_PRIVATE,
  IpcError,
  MMAP,
  SC_PAGESIZE,
  SharedMemory,
  SHM_MODE,
  SHM_RDONLY,
  SHMID_DS,
  testHooks,
} from "./_support/lib.ts";
import {
  childArgv,
  type ChildArgvOptions,
  runtimeName,
  tempDir,
  test,
} from "./_support/runtime.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import {
  AsUser,
  compileC,
  exampleArgv,
  fixture,
  interopFile,
  run,
  start,
  startedPids,
  startFixture,
  withTempDir,
} from "./_support/children.ts";
import { ipcObjects, isRoot, readProcText } from "./_support/procfs.ts";
import { sleep } from "./_support/timing.ts";

const PYTHON = "/usr/bin/python3";
const pid = process.pid;

/**
 * Whether this runtime can detach (neuter) an `ArrayBuffer` over native
 * memory. Deno and Bun can (`ArrayBuffer.prototype.transfer`); Node 20 has no
 * `transfer()`, and `structuredClone` copies a koffi view instead of moving
 * it, so there `detach()` always takes the documented fallback: an anonymous
 * mapping over the segment, which stale views then read as zeros.
 */
const buffersDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer ===
  "function";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const shmAtStart = shmTable().map((s) => s.id);

/** One row of /proc/sysvipc/shm (what `ipcs -m` prints). */
interface ShmRow {
  key: number;
  id: number;
  perms: number;
  size: number;
  cpid: number;
  lpid: number;
  nattch: number;
}

function shmTable(): ShmRow[] {
  const rows: ShmRow[] = [];
  for (const line of (readProcText("/proc/sysvipc/shm") ?? "").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    rows.push({
      key: Number(f[0]),
      id: Number(f[1]),
      perms: parseInt(f[2], 8),
      size: Number(f[3]),
      cpid: Number(f[4]),
      lpid: Number(f[5]),
      nattch: Number(f[6]),
    });
  }
  return rows;
}

function shmRow(id: number): ShmRow | undefined {
  return shmTable().find((r) => r.id === id);
}

/**
 * Like `assertNoIpcLeak` from `_support/leaks.ts`, but robust to other test runs on
 * the same machine (the semaphore tests run concurrently on the shared VMs
 * and their sets come and go mid-test): it compares `ipcs -m` before and
 * after `fn`, counting only segments created by this process or a process
 * the tests started (`shm_cpid`). Nothing here creates semaphores or queues.
 */
async function assertNoShmLeak(fn: () => Promise<void> | void): Promise<void> {
  const show = (r: ShmRow) => `shm id ${r.id} key 0x${(r.key >>> 0).toString(16)} cpid ${r.cpid}`;
  const before = new Map(shmTable().map((r) => [r.id, r]));
  await fn();
  const after = new Map(shmTable().map((r) => [r.id, r]));
  const added = [...after.values()].filter((r) => !before.has(r.id) && startedPids.has(r.cpid));
  const removed = [...before.values()].filter((r) => !after.has(r.id) && startedPids.has(r.cpid));
  assert.deepEqual(
    { added: added.map(show), removed: removed.map(show) },
    { added: [], removed: [] },
    "ipcs -m changed",
  );
}

/** A key no IPC object uses now. */
function freeKey(): number {
  const used = new Set(ipcObjects().map((o) => o.key));
  for (;;) {
    const k = 0x5000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
    if (!used.has(k)) return k;
  }
}

/** Waits until a segment with `key` exists; returns its id. */
async function waitForKey(key: number, ms = 15000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const row = shmTable().find((r) => r.key === (key | 0));
    if (row) return row.id;
    if (Date.now() > deadline) throw new Error(`no segment with key 0x${(key >>> 0).toString(16)}`);
    await sleep(10);
  }
}

/** `ipcrm -m` on segments with `key` that a failed test may have left. */
async function ipcrmKey(key: number): Promise<void> {
  for (const row of shmTable().filter((r) => r.key === (key | 0))) {
    await run("ipcrm", ["-m", String(row.id)]);
  }
}

/** Runs a shm_child.ts mode to completion; returns its last JSON line. */
async function runChild(args: string[], options?: ChildArgvOptions) {
  const out = await run(...childArgv(fixture("shm_child.ts"), args, options));
  assert.equal(out.signal, null, `child killed by ${out.signal}; stderr: ${out.stderr}`);
  assert.equal(out.code, 0, `child failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

// ---------------------------------------------------------------------------
// Layout and basics
// ---------------------------------------------------------------------------

test("struct shmid_ds offsets and the flags we use match C's offsetof() and headers", async () => {
  await withTempDir("sysipc_shm_", async (dir) => {
    const bin = await compileC(interopFile("shm_layout.c"), dir);
    const out = await run(bin);
    assert.equal(out.code, 0, out.stderr);
    const c = JSON.parse(out.stdout);
    const { sizes, flags, ...offsets } = c;
    assert.deepEqual(offsets, { ...SHMID_DS });
    assert.deepEqual(sizes, { segsz: 8, time: 8, pid: 4, nattch: 8, mode: 4 });
    assert.deepEqual(flags, {
      IPC_CREAT: IPC.CREAT,
      IPC_EXCL: IPC.EXCL,
      IPC_RMID: IPC.RMID,
      IPC_STAT: IPC.STAT,
      SHM_RDONLY,
      SHM_DEST: SHM_MODE.DEST,
      SHM_LOCKED: SHM_MODE.LOCKED,
      PROT_READ: MMAP.PROT_READ,
      PROT_WRITE: MMAP.PROT_WRITE,
      MAP_PRIVATE: MMAP.MAP_PRIVATE,
      MAP_FIXED: MMAP.MAP_FIXED,
      MAP_ANONYMOUS: MMAP.MAP_ANONYMOUS,
      SC_PAGESIZE,
    });
  });
});

test("create() attaches a zeroed segment of exactly the requested size, mode 0o600, as ipcs lists it", async () => {
  await assertNoShmLeak(async () => {
    await assertNoFdLeak(() => {
      const key = freeKey();
      using shm = SharedMemory.create({ key, size: 4097 });
      try {
        assert.equal(shm.attached, true);
        assert.equal(shm.key, key);
        assert.equal(shm.size, 4097, "4097 stays 4097: the page rounding is not usable");
        assert.equal(shm.bytes.length, 4097);
        assert.equal(shm.buffer.byteLength, 4097);
        assert.equal(shm.bytes.every((b) => b === 0), true);
        assert.equal(shm.buffer, shm.buffer, "one cached buffer");
        assert.equal(shm.bytes, shm.bytes);
        assert.deepEqual(shmRow(shm.id), {
          key,
          id: shm.id,
          perms: 0o600,
          size: 4097,
          cpid: pid,
          lpid: pid,
          nattch: 1,
        });
        const st = shm.stat();
        assert.equal(st.key, key);
        assert.equal(st.size, 4097);
        assert.equal(st.mode, 0o600);
        assert.equal(st.attachCount, 1);
        assert.equal(st.removed, false);
        assert.equal(st.detachTime, null);
        assert.ok(st.attachTime instanceof Date);
        assert.ok(Math.abs(st.attachTime.getTime() - Date.now()) < 60_000);
        assert.ok(st.changeTime instanceof Date);
      } finally {
        shm.remove();
      }
      using other = SharedMemory.create({ size: 8, mode: 0o640 });
      try {
        assert.equal(other.stat().mode, 0o640);
        assert.equal(shmRow(other.id)?.perms, 0o640, "applied exactly, not masked by umask");
        assert.equal(other.key, IPC_PRIVATE);
      } finally {
        other.remove();
      }
    });
  });
});

test("two attachments see each other's writes at once, zero-copy, through any view type", async () => {
  await assertNoShmLeak(() => {
    using a = SharedMemory.create({ size: 64 });
    try {
      using b = SharedMemory.fromId(a.id);
      assert.equal(b.key, IPC_PRIVATE);
      assert.equal(b.size, 64);
      a.view(Float64Array, 8, 1)[0] = Math.PI;
      assert.equal(b.view(Float64Array, 8)[0], Math.PI);
      b.view(BigInt64Array, 16, 1)[0] = -5n;
      assert.equal(a.view(BigInt64Array, 16, 1)[0], -5n);
      b.bytes[0] = 0xab;
      assert.equal(a.view(Uint8Array, 0, 1)[0], 0xab);
      assert.equal(a.view(Int8Array, 0, 1)[0], -85);
      assert.equal(new DataView(a.buffer).getUint8(0), 0xab);
      assert.equal(a.stat().attachCount, 2);
    } finally {
      a.remove();
    }
  });
});

test("view() bounds and alignment errors are RangeErrors, a non-constructor a TypeError", async () => {
  await assertNoShmLeak(() => {
    using shm = SharedMemory.create({ size: 10 });
    try {
      assert.equal(shm.view(Uint16Array).length, 5);
      assert.equal(shm.view(Uint32Array).length, 2, "as many whole elements as fit");
      assert.equal(shm.view(Uint8Array, 10).length, 0);
      assert.equal(shm.view(Uint8Array, 4, 6).byteOffset, 4);
      assert.throws(() => shm.view(Int32Array, 2), {
        name: "RangeError",
        message: /byteOffset must be a multiple of 4 for Int32Array, got 2/,
      });
      assert.throws(() => shm.view(Uint8Array, 11), RangeError);
      assert.throws(() => shm.view(Uint8Array, -1), RangeError);
      assert.throws(() => shm.view(Uint8Array, 4, 7), {
        name: "RangeError",
        message:
          /^length must be an integer from 0 to 6 \(the Uint8Array elements that fit after byte 4 of 10\), got 7$/,
      });
      assert.throws(() => shm.view(Float64Array, 8, 1), RangeError);
      assert.throws(() => shm.view(Uint8Array, 1.5), TypeError);
      assert.throws(() => shm.view(Uint8Array, 0, NaN), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => shm.view(Array as any), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => shm.view(undefined as any), TypeError);
    } finally {
      shm.remove();
    }
  });
});

test("read() copies out and write() copies in, with the range checked", async () => {
  await assertNoShmLeak(() => {
    using shm = SharedMemory.create({ size: 16 });
    try {
      assert.equal(shm.write("héllo\0", 2), 7);
      assert.equal(cString(shm.read(2)), "héllo");
      assert.equal(shm.write(new Uint16Array([0x0201]), 14), 2);
      assert.deepEqual(shm.read(14, 2), new Uint8Array([1, 2]));
      assert.equal(shm.write(new Uint8Array([9, 9, 9]).buffer), 3);
      assert.equal(shm.write(new DataView(new Uint8Array([7, 8]).buffer, 1)), 1);
      assert.deepEqual(shm.read(0, 3), new Uint8Array([8, 9, 9]));
      const copy = shm.read(0, 3);
      copy[0] = 0;
      assert.equal(shm.bytes[0], 8, "read() returned a copy");
      assert.equal(shm.read().length, 16);
      assert.equal(shm.read(16).length, 0);
      assert.throws(() => shm.read(0, 17), RangeError);
      assert.throws(() => shm.read(17), RangeError);
      assert.throws(
        () => shm.read(10, 7),
        /length must be an integer from 0 to 6 \(the bytes after offset 10 of 16\), got 7/,
      );
      assert.throws(() => shm.write(new Uint8Array(5), 12), {
        name: "RangeError",
        message: /offset must be an integer from 0 to 11 \(where 5 bytes fit in 16\), got 12/,
      });
      // deno-lint-ignore no-explicit-any
      assert.throws(() => shm.write(42 as any), TypeError);
      assert.throws(() => shm.write("x", 0.5), TypeError);
    } finally {
      shm.remove();
    }
  });
});

// ---------------------------------------------------------------------------
// Memory safety
// ---------------------------------------------------------------------------

// Where the runtime can detach buffers (Deno, Bun): every view goes to length 0.
// Where it cannot (Node 20): the documented fallback, tested on its own below.
if (buffersDetach) {
  test("after detach() every earlier buffer, bytes and view has length 0 and reads undefined", async () => {
    await assertNoShmLeak(() => {
      const shm = SharedMemory.create({ size: 4096 });
      try {
        shm.bytes[0] = 42;
        const buffer = shm.buffer;
        const bytes = shm.bytes;
        const ints = shm.view(Int32Array);
        const tail = shm.view(Float64Array, 4088, 1);
        const sub = bytes.subarray(100, 200);
        const dv = new DataView(buffer);
        shm.detach();
        assert.equal(shm.attached, false);
        assert.equal(buffer.byteLength, 0);
        assert.equal(buffer.detached, true);
        for (const v of [bytes, ints, tail, sub]) {
          assert.equal(v.length, 0);
          assert.equal(v[0], undefined);
        }
        bytes[0] = 1; // ignored, not a crash
        assert.equal(bytes[0], undefined);
        assert.throws(() => dv.getUint8(0), TypeError);
        // Everything that would need the memory says why it cannot.
        for (
          const f of [
            () => shm.buffer,
            () => shm.bytes,
            () => shm.view(Uint8Array),
            () => shm.read(),
          ]
        ) {
          assert.throws(f, { name: "TypeError", message: /is detached \(call attach\(\) first\)/ });
        }
        assert.throws(() => shm.write("x"), TypeError);
        shm.detach(); // a second detach is a no-op
        assert.equal(shm.stat().attachCount, 0, "stat() works while detached");
        shm.attach();
        shm.attach(); // attached already: a no-op
        assert.equal(shm.stat().attachCount, 1);
        assert.notEqual(shm.buffer, buffer, "a fresh buffer");
        assert.equal(shm.bytes[0], 42, "the segment outlived the attachment");
        assert.equal(bytes.length, 0, "old views stay dead");
      } finally {
        shm.remove();
        shm.detach();
      }
    });
  });
}

if (!buffersDetach) {
  test("after detach() on a runtime that cannot detach buffers (Node 20), every earlier buffer and view reads zeros and writes reach nobody", async () => {
    await assertNoShmLeak(() => {
      const shm = SharedMemory.create({ size: 4096 });
      try {
        shm.bytes[0] = 42;
        const buffer = shm.buffer;
        const bytes = shm.bytes;
        const ints = shm.view(Int32Array);
        const tail = shm.view(Float64Array, 4088, 1);
        const sub = bytes.subarray(100, 200);
        const dv = new DataView(buffer);
        assert.equal(typeof (buffer as { transfer?: unknown }).transfer, "undefined");
        shm.detach();
        assert.equal(shm.attached, false);
        assert.equal(shm.stat().attachCount, 0, "the segment is released (nattch drops)");
        assert.equal(buffer.byteLength, 4096, "the buffer could not be detached…");
        for (const v of [bytes, ints, tail, sub]) {
          assert.ok(v.length > 0);
          assert.equal(v[0], 0, "…so it shows the placeholder's zeros, not unmapped memory");
        }
        assert.equal(dv.getUint8(0), 0);
        bytes[0] = 1; // private to the placeholder: not a crash, and not the segment
        assert.equal(bytes[0], 1);
        // Everything that would need the memory says why it cannot.
        for (
          const f of [
            () => shm.buffer,
            () => shm.bytes,
            () => shm.view(Uint8Array),
            () => shm.read(),
          ]
        ) {
          assert.throws(f, { name: "TypeError", message: /is detached \(call attach\(\) first\)/ });
        }
        assert.throws(() => shm.write("x"), TypeError);
        shm.detach(); // a second detach is a no-op
        assert.equal(shm.stat().attachCount, 0, "stat() works while detached");
        shm.attach();
        shm.attach(); // attached already: a no-op
        assert.equal(shm.stat().attachCount, 1);
        assert.notEqual(shm.buffer, buffer, "a fresh buffer");
        assert.equal(
          shm.bytes[0],
          42,
          "the segment outlived the attachment, untouched by the stale write",
        );
        assert.equal(bytes[0], 1, "old views stay on the placeholder");
        shm.bytes[0] = 43;
        assert.equal(bytes[0], 1, "and never see the segment again");
      } finally {
        shm.remove();
        shm.detach();
      }
    });
  });
}

test(
  `mmap fallback (${
    buffersDetach ? "forced by the test hook" : "this runtime's own path"
  }): nattch drops, a stale view reads zeros, its writes reach nobody`,
  async () => {
    await assertNoShmLeak(() => {
      using keeper = SharedMemory.create({ size: 8192 });
      try {
        keeper.bytes.fill(7);
        // Deno and Bun detach buffers, so the hook makes them take the fallback;
        // Node 20 takes it on its own (the hook stays off: the real path).
        testHooks.pretendBuffersCannotDetach = buffersDetach;
        try {
          const shm = SharedMemory.fromId(keeper.id);
          const stale = shm.view(Uint8Array);
          assert.equal(stale[5000], 7);
          assert.equal(keeper.stat().attachCount, 2);
          shm.detach();
          assert.equal(shm.attached, false);
          assert.equal(keeper.stat().attachCount, 1, "the segment is released (nattch drops)");
          assert.ok(keeper.stat().detachTime instanceof Date);
          assert.equal(stale.length, 8192, "the stale view could not be detached…");
          assert.equal(stale[5000], 0, "…so it shows the placeholder's zeros");
          stale[5000] = 99;
          assert.equal(stale[5000], 99);
          assert.equal(keeper.bytes[5000], 7, "its writes reach nobody");
          assert.throws(() => shm.bytes, TypeError);
          shm.attach();
          assert.equal(shm.bytes[5000], 7, "attach() again maps the segment afresh");
          shm.detach();
        } finally {
          testHooks.pretendBuffersCannotDetach = false;
        }
      } finally {
        keeper.remove();
      }
    });
  },
);

test("mmap fallback: the placeholder is unmapped once the stale buffer is collected", async () => {
  await assertNoShmLeak(async () => {
    using shm = SharedMemory.create({ size: 10000 });
    try {
      shm.bytes[0] = 42;
      const how = buffersDetach ? "forced" : "real";
      const r = await runChild(["fallback-gc", String(shm.id), how], { exposeGc: true });
      assert.deepEqual(r, {
        marker: 42,
        attachedCount: 2,
        detachedCount: 1,
        staleLength: 10000,
        staleRead: 0,
        anonymous: true,
        unmapped: true,
      });
      assert.equal(shm.bytes[1], 0, "the child's write to its stale view did not reach us");
    } finally {
      shm.remove();
    }
  });
});

if (buffersDetach) {
  test("a buffer moved away (transfer, structuredClone) keeps the memory safe: after detach it reads zeros", async () => {
    await assertNoShmLeak(() => {
      using keeper = SharedMemory.create({ size: 4096 });
      try {
        keeper.bytes[0] = 42;
        for (const move of ["transfer", "structuredClone"] as const) {
          const shm = SharedMemory.fromId(keeper.id);
          const buf = shm.buffer;
          const moved = move === "transfer"
            ? buf.transfer()
            : structuredClone(buf, { transfer: [buf] });
          const view = new Uint8Array(moved);
          // The runtime moved the native memory itself, not a copy: this is why it matters.
          view[1] = 5;
          assert.equal(keeper.bytes[1], 5, `${move} aliases the segment`);
          assert.equal(shm.bytes[0], 42, "the SharedMemory makes itself a fresh buffer");
          shm.detach();
          assert.equal(keeper.stat().attachCount, 1, `${move}: the segment is released`);
          assert.equal(view.length, 4096);
          assert.equal(view[0], 0, `${move}: the moved buffer reads zeros, not unmapped memory`);
          view[1] = 6;
          assert.equal(keeper.bytes[1], 5, `${move}: its writes reach nobody`);
        }
      } finally {
        keeper.remove();
      }
    });
  });
}

if (!buffersDetach) {
  test("a buffer cannot be moved away on Node 20: structuredClone copies it, and after detach the original reads zeros", async () => {
    await assertNoShmLeak(() => {
      using keeper = SharedMemory.create({ size: 4096 });
      try {
        keeper.bytes[0] = 42;
        const shm = SharedMemory.fromId(keeper.id);
        const buf = shm.buffer;
        assert.equal(typeof (buf as { transfer?: unknown }).transfer, "undefined", "no transfer()");
        const moved = structuredClone(buf, { transfer: [buf] });
        const copy = new Uint8Array(moved);
        copy[1] = 5;
        assert.equal(keeper.bytes[1], 0, 'the "moved" buffer is a copy: its writes reach nobody');
        assert.equal(copy[0], 42, "a copy of the segment's bytes");
        assert.equal(buf.byteLength, 4096, "the original stays attached…");
        new Uint8Array(buf)[2] = 6;
        assert.equal(keeper.bytes[2], 6, "…and still aliases the segment");
        assert.equal(shm.buffer, buf, "the SharedMemory keeps its buffer");
        shm.detach();
        assert.equal(keeper.stat().attachCount, 1, "the segment is released");
        assert.equal(new Uint8Array(buf)[0], 0, "the original reads zeros, not unmapped memory");
        new Uint8Array(buf)[2] = 7;
        assert.equal(keeper.bytes[2], 6, "its writes reach nobody");
        assert.equal(copy[0], 42, "the copy keeps its own bytes");
      } finally {
        keeper.remove();
      }
    });
  });
}

if (runtimeName !== "node") {
  // Deno and Bun: a web Worker, handed the buffer by transfer (the same native memory).
  test("a buffer posted to a Worker cannot dangle: after detach the worker reads zeros", async () => {
    await assertNoShmLeak(async () => {
      using keeper = SharedMemory.create({ size: 4096 });
      const worker = new Worker(fixture("shm_worker.ts"), { type: "module" });
      try {
        keeper.bytes[0] = 42;
        const ask = (msg: unknown, transfer: Transferable[] = []) =>
          new Promise<{ length: number; first: number; second: number }>((resolve) => {
            worker.onmessage = (e) => resolve(e.data);
            worker.postMessage(msg, transfer);
          });
        const shm = SharedMemory.fromId(keeper.id);
        const buf = shm.buffer;
        let r = await ask({ buffer: buf, value: 7 }, [buf]);
        assert.deepEqual(r, { length: 4096, first: 42, second: 7 });
        assert.equal(keeper.bytes[1], 7, "the worker wrote into the segment itself");
        shm.detach();
        assert.equal(keeper.stat().attachCount, 1);
        r = await ask({ value: 9 });
        assert.deepEqual(r, { length: 4096, first: 0, second: 9 }, "zeros, and a private write");
        assert.equal(keeper.bytes[1], 7);
      } finally {
        worker.terminate();
        keeper.remove();
      }
    });
  });
}

if (runtimeName === "node") {
  // Node: a worker_threads Worker. Posting a koffi view copies it on Node 20
  // (checked), so the worker never shares the segment; with transfer() it
  // would, and the worker would then read the placeholder's zeros.
  test("a buffer posted to a worker_threads Worker cannot dangle: the worker gets a copy or, after detach, zeros", async () => {
    await assertNoShmLeak(async () => {
      using keeper = SharedMemory.create({ size: 4096 });
      const { Worker } = await import("node:worker_threads");
      const worker = new Worker(
        `const { parentPort } = require("node:worker_threads");
        let buf;
        parentPort.on("message", (m) => {
          if (m.buffer) buf = m.buffer;
          const u8 = new Uint8Array(buf);
          if (m.value !== undefined) u8[1] = m.value;
          parentPort.postMessage({ length: u8.length, first: u8[0], second: u8[1] });
        });`,
        { eval: true },
      );
      try {
        keeper.bytes[0] = 42;
        const ask = (msg: unknown, transfer: ArrayBuffer[] = []) =>
          new Promise<{ length: number; first: number; second: number }>((resolve) => {
            worker.once("message", resolve);
            worker.postMessage(msg, transfer);
          });
        const shm = SharedMemory.fromId(keeper.id);
        const buf = shm.buffer;
        let r = await ask({ buffer: buf, value: 7 }, [buf]);
        assert.deepEqual(r, { length: 4096, first: 42, second: 7 });
        const shared = keeper.bytes[1] === 7;
        assert.equal(shared, buffersDetach, "shared only where buffers can be moved");
        shm.detach();
        assert.equal(keeper.stat().attachCount, 1);
        r = await ask({ value: 9 });
        assert.deepEqual(
          r,
          { length: 4096, first: shared ? 0 : 42, second: 9 },
          "zeros (or the worker's own copy), and a private write",
        );
        assert.equal(keeper.bytes[1], shared ? 7 : 0);
      } finally {
        await worker.terminate();
        keeper.remove();
      }
    });
  });
}

test("a forgotten attachment is released only after its buffer and every view are collected", async () => {
  await assertNoShmLeak(async () => {
    using shm = SharedMemory.create({ size: 4096 });
    try {
      shm.view(Uint32Array)[0] = 1234;
      const r = await runChild(["forgotten", String(shm.id)], { exposeGc: true });
      assert.deepEqual(r, {
        attachedCount: 2,
        kept: true, // the SharedMemory object was collected, but a view still used the memory
        viewStillReads: 1234,
        released: true,
        releasedCount: 1,
        placeholder: true,
      });
    } finally {
      shm.remove();
    }
  });
});

test("a read-only attachment hands out no writable memory: every write path throws, the process survives", async () => {
  await assertNoShmLeak(async () => {
    using shm = SharedMemory.create({ size: 4096 });
    try {
      shm.write(new Uint8Array([1, 2, 3, 4]));
      const r = await runChild(["ro-abuse", String(shm.id)]);
      const errors = r.errors as Record<string, string>;
      assert.equal(Object.keys(errors).length, 10);
      for (const [what, name] of Object.entries(errors)) assert.equal(name, "TypeError", what);
      assert.deepEqual(r.read, [1, 2, 3, 4]);
      assert.equal(r.readOnly, true);
      assert.deepEqual(shm.read(0, 4), new Uint8Array([1, 2, 3, 4]), "nothing was written");
      // And in this process: the error says what to do instead.
      using ro = SharedMemory.fromId(shm.id, { readOnly: true });
      assert.throws(() => ro.bytes, {
        name: "TypeError",
        message: /attached read-only \(SHM_RDONLY\).*use read\(\) for a copy/,
      });
      assert.deepEqual(ro.read(1, 2), new Uint8Array([2, 3]));
      shm.bytes[1] = 20;
      assert.equal(ro.read(1, 1)[0], 20, "it still sees live data");
    } finally {
      shm.remove();
    }
  });
});

// ---------------------------------------------------------------------------
// Lifecycle and errors
// ---------------------------------------------------------------------------

test("stat().attachCount follows a second process attaching and detaching, like ipcs -m nattch", async () => {
  await assertNoShmLeak(async () => {
    using shm = SharedMemory.create({ size: 4096 });
    await using p = startFixture("shm_child.ts", ["hold", shm.id], { stdin: "pipe" });
    const out = p.stdout;
    const send = async (line: string) => {
      await p.send(line);
      return await out.json();
    };
    try {
      let st = shm.stat();
      assert.deepEqual([st.attachCount, st.creatorPid, st.lastPid], [1, pid, pid]);
      const hello = await out.json();
      assert.deepEqual(hello, { pid: p.pid, attached: true });
      const check = (n: number, lastPid: number) => {
        const st = shm.stat();
        assert.equal(st.attachCount, n);
        assert.equal(shmRow(shm.id)?.nattch, n, "ipcs -m agrees");
        assert.equal(st.creatorPid, pid, "the creator stays the creator");
        assert.equal(st.lastPid, lastPid);
      };
      check(2, p.pid);
      await send("detach");
      check(1, p.pid);
      st = shm.stat();
      assert.ok(st.detachTime instanceof Date);
      await send("attach");
      check(2, p.pid);
      // Like the seed's client stopped with Ctrl-C: the kernel detaches a dying process.
      p.kill("SIGKILL");
      await p.status;
      check(1, p.pid);
      shm.detach();
      check(0, pid);
    } finally {
      shm.remove();
    }
  });
});

test("remove() marks the segment; it lives until the last detach, then open() fails with ENOENT", async () => {
  await assertNoShmLeak(() => {
    const key = freeKey();
    const shm = SharedMemory.create({ key, size: 100 });
    try {
      shm.bytes[0] = 1;
      const other = SharedMemory.open(key);
      shm.remove();
      shm.remove(); // idempotent
      const st = shm.stat();
      assert.equal(st.removed, true);
      assert.equal(st.key, IPC_PRIVATE, "the kernel frees the key at once");
      assert.equal(other.bytes[0], 1, "existing attachments keep working");
      other.bytes[0] = 2;
      assert.equal(shm.bytes[0], 2);
      assert.throws(() => SharedMemory.open(key), (e: unknown) => {
        assert.ok(e instanceof IpcError);
        assert.equal(e.code, "ENOENT");
        return true;
      });
      using again = SharedMemory.create({ key, size: 8 }); // the key is free for a new segment
      again.remove();
      shm.detach();
      assert.ok(shmRow(shm.id), "still there while `other` is attached");
      other.detach();
      assert.equal(shmRow(shm.id), undefined, "gone at the last detach");
      assert.throws(() => shm.stat(), { name: "IpcError", code: "EINVAL" });
      assert.throws(() => shm.attach(), { name: "IpcError", syscall: "shmat" });
    } finally {
      shm.detach();
    }
  });
});

test("[Symbol.dispose] detaches but does not remove: remove() is always explicit", async () => {
  await assertNoShmLeak(() => {
    const key = freeKey();
    let id: number;
    let view: Uint8Array;
    {
      using shm = SharedMemory.create({ key, size: 32 });
      id = shm.id;
      view = shm.bytes;
      view[3] = 3;
    }
    if (buffersDetach) assert.equal(view.length, 0, "disposed: views are dead");
    else assert.equal(view[3], 0, "disposed: views read the placeholder's zeros (Node 20)");
    assert.equal(shmRow(id)?.nattch, 0, "detached");
    using again = SharedMemory.open(key);
    try {
      assert.equal(again.id, id, "but the segment is still there");
      assert.equal(again.bytes[3], 3);
    } finally {
      again.remove();
    }
  });
});

test("open() of a missing key is ENOENT, exclusive create of a taken key EEXIST; exclusive: false attaches it", async () => {
  await assertNoShmLeak(() => {
    const key = freeKey();
    const hex = `0x${key.toString(16)}`;
    assert.throws(() => SharedMemory.open(key), (e: unknown) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.message, `Cannot open shared memory (shmget, key ${hex}): ENOENT`);
      assert.deepEqual([e.code, e.errno, e.syscall], ["ENOENT", 2, "shmget"]);
      return true;
    });
    using shm = SharedMemory.create({ key, size: 8192 });
    try {
      assert.throws(() => SharedMemory.create({ key, size: 8192 }), (e: unknown) => {
        assert.ok(e instanceof IpcError);
        assert.equal(e.message, `Cannot create shared memory (shmget, key ${hex}): EEXIST`);
        assert.deepEqual([e.code, e.errno, e.syscall], ["EEXIST", 17, "shmget"]);
        return true;
      });
      using same = SharedMemory.create({ key, size: 100, exclusive: false });
      assert.equal(same.id, shm.id);
      assert.equal(same.size, 8192, "the existing segment's size");
      assert.throws(
        () => SharedMemory.create({ key, size: 9000, exclusive: false }),
        { name: "IpcError", code: "EINVAL" },
        "an existing segment smaller than asked for",
      );
      assert.throws(() => SharedMemory.fromId(0x7fff_fff0), { name: "IpcError", code: "EINVAL" });
    } finally {
      shm.remove();
    }
  });
});

test("bad input gets a clear TypeError or RangeError before any system call", async (t) => {
  await assertNoShmLeak(async () => {
    // deno-lint-ignore no-explicit-any
    const create = (o: any) => () => SharedMemory.create(o);
    await t.step("size", () => {
      assert.throws(create({ size: 0 }), {
        name: "RangeError",
        message: /^size must be an integer from 1 to \d+ \(kernel.shmmax\), got 0$/,
      });
      assert.throws(create({ size: -1 }), RangeError);
      assert.throws(create({ size: 1.5 }), {
        name: "TypeError",
        message: /size must be an integer .*got 1\.5/,
      });
      assert.throws(create({ size: NaN }), TypeError);
      assert.throws(create({ size: Infinity }), TypeError);
      assert.throws(create({ size: "8" }), TypeError);
      assert.throws(create({}), TypeError);
      const max = BigInt((readProcText("/proc/sys/kernel/shmmax") ?? "0").trim());
      // 2**64 is above the default shmmax (2**64 - 2**24 - 1); a lowered one is tested exactly.
      const over = max < BigInt(Number.MAX_SAFE_INTEGER) ? Number(max) + 1 : 2 ** 64;
      assert.throws(create({ size: over }), {
        name: "RangeError",
        message: /size must be an integer from 1 to \d+ \(kernel.shmmax\), got/,
      });
    });
    await t.step("key", () => {
      assert.throws(create({ key: 1.5, size: 8 }), TypeError);
      assert.throws(create({ key: "1", size: 8 }), TypeError);
      assert.throws(create({ key: 2 ** 32, size: 8 }), {
        name: "RangeError",
        message: /^key must be an integer .*32 bits\), got 4294967296$/,
      });
      assert.throws(create({ key: -(2 ** 31) - 1, size: 8 }), RangeError);
      assert.throws(() => SharedMemory.open(NaN), TypeError);
      assert.throws(() => SharedMemory.open(2 ** 40), RangeError);
      assert.throws(() => SharedMemory.open(IPC_PRIVATE), {
        name: "RangeError",
        message: /^key must be a key other than IPC_PRIVATE.*SharedMemory\.fromId\(\)\), got 0$/,
      });
    });
    await t.step("mode, exclusive, readOnly, options, id", () => {
      assert.throws(create({ size: 8, mode: -1 }), RangeError);
      assert.throws(create({ size: 8, mode: 0o1000 }), {
        name: "RangeError",
        message:
          "mode must be an integer from 0 to 0o777 (permission bits such as 0o600), got 0o1000",
      });
      assert.throws(create({ size: 8, mode: 1.5 }), TypeError);
      assert.throws(create({ size: 8, exclusive: "yes" }), TypeError);
      assert.throws(create(null), TypeError);
      assert.throws(create(8), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => SharedMemory.open(0x1234, { readOnly: 1 as any }), TypeError);
      assert.throws(() => SharedMemory.fromId(-1), RangeError);
      assert.throws(() => SharedMemory.fromId(1.5), TypeError);
      // deno-lint-ignore no-explicit-any
      assert.throws(() => new (SharedMemory as any)(1, 1, 1, false), TypeError);
    });
    await t.step("ftok", () => {
      const dir = tempDir("sysipc_shm_");
      try {
        assert.equal(ftok(dir, 1), ftok(new URL(`file://${dir}`), 1));
        assert.notEqual(ftok(dir, 1), ftok(dir, 2));
        assert.throws(() => ftok(`${dir}/missing`, 1), { name: "IpcError", code: "ENOENT" });
        assert.throws(() => ftok(dir, 0), RangeError);
        assert.throws(() => ftok(dir, 256), RangeError);
        assert.throws(() => ftok(dir, 1.5), TypeError);
        assert.throws(() => ftok(dir, 0), {
          name: "RangeError",
          message: /^projectId must be an integer from 1 to 255 .*, got 0$/,
        });
        const badPath =
          /^path must be a non-empty string or a file: URL, without NUL characters, got /;
        assert.throws(() => ftok("", 1), { name: "TypeError", message: badPath });
        assert.throws(() => ftok("a\0b", 1), { name: "TypeError", message: badPath });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

test({
  name:
    "the mode is honoured for another user: 0o600 refuses them (EACCES), 0o644 allows read-only only",
  ignore: !isRoot(), // needs setpriv to become `nobody`
  async fn() {
    await assertNoShmLeak(async () => {
      // `nobody` runs shm_child.ts from a copy it can read, wherever the checkout is.
      using nobody = new AsUser(65534, 65534);
      const asNobody = async (key: number, access: string) => {
        const out = await nobody.runFixture("shm_child.ts", ["open", key, access]);
        assert.equal(out.code, 0, out.stderr);
        return JSON.parse(out.stdout);
      };
      const key = freeKey();
      const hex = `0x${key.toString(16)}`;
      using secret = SharedMemory.create({ key, size: 8 });
      try {
        secret.bytes[0] = 5;
        assert.deepEqual(await asNobody(key, "ro"), {
          name: "IpcError",
          code: "EACCES",
          message: `Cannot open shared memory (shmget, key ${hex}): EACCES`,
        });
      } finally {
        secret.remove();
      }
      using shared = SharedMemory.create({ key, size: 8, mode: 0o644 });
      try {
        shared.bytes[0] = 6;
        assert.deepEqual(await asNobody(key, "ro"), { ok: true, read: 6 });
        assert.equal((await asNobody(key, "rw")).code, "EACCES");
      } finally {
        shared.remove();
      }
    });
  },
});

// ---------------------------------------------------------------------------
// Interop: the seed's C programs
// ---------------------------------------------------------------------------

test("interop: our shm_client.ts feeds the seed's C server; killed, that server leaves the segment for ipcrm", async () => {
  await withTempDir("sysipc_shm_", async (dir) => {
    const key = ftok(dir, 1);
    await assertNoShmLeak(async () => {
      const server = await compileC(interopFile("shm_server.c"), dir);
      // Prints every 20 ms for up to 60 s; the test stops it like the seed's Ctrl-C.
      await using srv = start(server, [dir, "3000", "20"]);
      const lines = srv.stdout;
      try {
        const id = await waitForKey(key);
        assert.equal(shmRow(id)?.perms, 0o644);
        assert.equal(shmRow(id)?.size, 4097);
        // One letter per 250 ms: the client stays attached for a second, and the server,
        // printing every 20 ms, shows each stage many times over — on a loaded machine
        // too, where a 50 ms pace let this process miss the whole attachment.
        await using client = start(...exampleArgv("shm_client.ts", [dir, "5", "250"]));
        // Sample `ipcs -m` nattch while the client runs.
        const seen = new Set<number>();
        let done = false;
        const sampling = (async () => {
          for (let i = 0; i < 3000 && !done; i++) {
            const n = shmRow(id)?.nattch;
            if (n !== undefined) seen.add(n);
            await sleep(5);
          }
        })();
        const out = await client.output();
        done = true;
        await sampling;
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /client wrote ABCDE/);
        assert.ok(seen.has(2), `nattch 2 while the client was attached (saw ${[...seen]})`);
        // The server prints "", then "A", "AB", … as the client writes: never anything else.
        const printed: string[] = [];
        while (printed.at(-1) !== "ABCDE") {
          const line = await lines.next();
          assert.ok("ABCDE".startsWith(line), `unexpected line ${JSON.stringify(line)}`);
          if (line !== printed.at(-1)) printed.push(line);
        }
        assert.ok(printed.length >= 3, `saw the string grow: ${JSON.stringify(printed)}`);
        assert.equal(shmRow(id)?.nattch, 1, "the client detached");
        srv.kill("SIGKILL");
        await srv.status;
        // 再结束server进程…发现共享内存依旧存在: the segment outlives its creator.
        assert.deepEqual([shmRow(id)?.nattch, shmRow(id)?.lpid], [0, srv.pid]);
        const rm = await run("ipcrm", ["-m", String(id)]);
        assert.equal(rm.code, 0, rm.stderr);
      } finally {
        await ipcrmKey(key);
      }
    });
  });
});

test("interop: the seed's C client feeds our shm_server.ts, whose attachCount goes 1 → 2 → 1", async () => {
  await withTempDir("sysipc_shm_", async (dir) => {
    const key = ftok(dir, 1);
    await assertNoShmLeak(async () => {
      const client = await compileC(interopFile("shm_client.c"), dir);
      // 80 × 50 ms: long enough for the C client's 5 × 200 ms with room to spare. The
      // client's slow pace keeps it attached for most of a second, so the server's
      // 50 ms samples see nattch 2 on a loaded machine too.
      await using srv = start(...exampleArgv("shm_server.ts", [dir, "80", "50"]));
      try {
        const id = await waitForKey(key);
        assert.equal(shmRow(id)?.perms, 0o644, "mode 0644, as the seed");
        await sleep(200); // a few empty reads first, as in the seed
        const c = await run(client, [dir, "5", "200"]);
        assert.equal(c.code, 0, c.stderr);
        const out = await srv.output();
        assert.equal(out.code, 0, out.stderr);
        const text = out.stdout.split("\n");
        assert.match(
          text[0],
          new RegExp(`^server: key 0x${(key >>> 0).toString(16)}, shmid ${id}, 4097 bytes$`),
        );
        const counts = text.filter((l) => l.startsWith("attachCount: ")).map((l) =>
          Number(l.split(" ")[1])
        );
        assert.deepEqual(counts, [1, 2, 1]);
        const strings = text.slice(1).filter((l) =>
          !l.startsWith("attachCount") && !l.startsWith("server")
        );
        assert.equal(strings[0], "", "the server reads an empty string before the client comes");
        assert.equal(strings.at(-2), "ABCDE");
        assert.equal(strings.at(-1), "", "(the output's final newline)");
        for (const s of strings) assert.ok("ABCDE".startsWith(s), s);
        assert.equal(text.at(-2), "server: segment removed");
        assert.equal(shmRow(id), undefined, "our server removed the segment");
      } finally {
        await ipcrmKey(key);
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Interop: Python sysv_ipc
// ---------------------------------------------------------------------------

const ours = `hello from ${runtimeName}`;

test("interop: Python sysv_ipc creates a segment; we open it by key, read its text, and it reads ours", async () => {
  await assertNoShmLeak(async () => {
    await using py = start(PYTHON, [interopFile("shm_peer.py"), "create", "4096"], {
      stdin: "pipe",
    });
    let key: number | undefined;
    try {
      const hello = await py.stdout.json<{ key: number; id: number; pid: number; size: number }>();
      key = hello.key;
      {
        using shm = SharedMemory.open(hello.key);
        assert.equal(shm.id, hello.id);
        assert.equal(shm.size, 4096);
        assert.equal(cString(shm.read(0, 64)), "hello from python");
        const st = shm.stat();
        assert.equal(st.creatorPid, py.pid);
        assert.equal(st.lastPid, pid, "our shmat");
        assert.equal(st.attachCount, 2);
        shm.write(`${ours}\0`, 100);
      }
      await py.send("go");
      const reply = await py.stdout.json();
      assert.deepEqual(reply, { read: ours, nattch: 1, last_pid: pid });
      assert.equal((await py.status).code, 0);
    } finally {
      if (key !== undefined) await ipcrmKey(key);
    }
  });
});

test("interop: we create a segment; Python sysv_ipc attaches by key, reads ours and writes back", async () => {
  await assertNoShmLeak(async () => {
    const key = freeKey();
    using shm = SharedMemory.create({ key, size: 4096 });
    try {
      shm.write(`${ours}\0`);
      const out = await run(PYTHON, [interopFile("shm_peer.py"), "attach", String(key)]);
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.deepEqual(
        { ...r, pid: undefined },
        { read: ours, pid: undefined, nattch: 2, creator_pid: pid, size: 4096 },
      );
      assert.equal(cString(shm.read(100)), "hello from python");
      const st = shm.stat();
      assert.equal(st.attachCount, 1);
      assert.equal(st.lastPid, r.pid, "Python's shmdt was the last");
    } finally {
      shm.remove();
    }
  });
});

// ---------------------------------------------------------------------------

test("the whole file leaves ipcs -m as it found it", () => {
  // Only segments made by this process or its children count: other test
  // runs on the machine may create their own meanwhile.
  const left = shmTable().filter((r) => !shmAtStart.includes(r.id) && startedPids.has(r.cpid));
  assert.deepEqual(left, []);
  const gone = shmAtStart.filter((id) => shmRow(id) === undefined);
  assert.deepEqual(gone, [], "removed nothing that was there before");
});
