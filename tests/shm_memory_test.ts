// SharedMemory: no view outlives its memory — detach, fallback, transfer, Workers, GC.
import assert from "node:assert/strict";
import { getBackend, SharedMemory, testHooks } from "./_support/lib.ts";
import { runtimeName, test } from "./_support/runtime.ts";
import { fixture } from "./_support/children.ts";
import {
  assertNoShmLeak,
  assertShmAsAtStart,
  buffersDetach,
  runChild,
  shmTable,
} from "./_support/shm.ts";

const shmAtStart = shmTable().map((s) => s.id);

/**
 * Sets the segment's first byte to 42 and takes every kind of view of it:
 * the buffer, bytes, two typed views (one at the very end), a subarray and a
 * DataView.
 */
function viewsOf(shm: SharedMemory) {
  shm.bytes[0] = 42;
  const buffer = shm.buffer;
  const bytes = shm.bytes;
  return {
    buffer,
    bytes,
    ints: shm.view(Int32Array),
    tail: shm.view(Float64Array, 4088, 1),
    sub: bytes.subarray(100, 200),
    dv: new DataView(buffer),
  };
}

/**
 * What a detached handle does: everything that would need the memory says
 * why it cannot, a second detach is a no-op, stat() still works; attach()
 * (twice: the second is a no-op) gives a fresh buffer on the segment, whose
 * first byte the test set to 42 and no stale view may have changed.
 */
function assertDetachedThenAttaches(shm: SharedMemory, oldBuffer: ArrayBuffer): void {
  for (
    const f of [() => shm.buffer, () => shm.bytes, () => shm.view(Uint8Array), () => shm.read()]
  ) {
    assert.throws(f, { name: "TypeError", message: /is detached \(call attach\(\) first\)/ });
  }
  assert.throws(() => shm.write("x"), TypeError);
  shm.detach();
  assert.equal(shm.stat().attachCount, 0, "stat() works while detached");
  shm.attach();
  shm.attach();
  assert.equal(shm.stat().attachCount, 1);
  assert.notEqual(shm.buffer, oldBuffer, "a fresh buffer");
  assert.equal(shm.bytes[0], 42, "the segment outlived the attachment, untouched");
}

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
        const { buffer, bytes, ints, tail, sub, dv } = viewsOf(shm);
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
        assertDetachedThenAttaches(shm, buffer);
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
        const { buffer, bytes, ints, tail, sub, dv } = viewsOf(shm);
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
        assertDetachedThenAttaches(shm, buffer);
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

/**
 * Whether the buffers this runtime's FFI makes over native memory refuse to
 * be transferred by `structuredClone` and `postMessage` (a `DataCloneError`,
 * so they cannot be moved away that way): koffi's on Node.js ≥ 22 (checked
 * on 22.23 and 24.22; `transfer()` still works). `node:ffi`'s, Deno's and
 * Bun's move.
 */
const cloneRefused = getBackend().name.includes("koffi");

if (buffersDetach) {
  test("a buffer moved away (transfer, structuredClone) keeps the memory safe: after detach it reads zeros", async () => {
    await assertNoShmLeak(() => {
      using keeper = SharedMemory.create({ size: 4096 });
      try {
        keeper.bytes[0] = 42;
        for (const move of ["transfer", "structuredClone"] as const) {
          const shm = SharedMemory.fromId(keeper.id);
          const buf = shm.buffer;
          if (move === "structuredClone" && cloneRefused) {
            assert.throws(() => structuredClone(buf, { transfer: [buf] }), {
              name: "DataCloneError",
            });
            assert.equal(buf.byteLength, 4096, "nothing moved: the buffer is still the segment's");
            shm.detach();
            assert.equal(buf.byteLength, 0, "and detach() empties it");
            assert.equal(keeper.stat().attachCount, 1, `${move}: the segment is released`);
            continue;
          }
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
  // Node: a worker_threads Worker. A koffi view cannot be transferred (Node
  // 22+: DataCloneError), so the worker gets a copy and never shares the
  // segment; a node:ffi buffer moves, and after detach the worker reads zeros.
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
        if (cloneRefused) {
          // koffi's buffer cannot be transferred at all: the worker can only get a copy.
          assert.throws(() => worker.postMessage({ buffer: buf }, [buf]), {
            name: "DataCloneError",
          });
          assert.equal(buf.byteLength, 4096, "nothing moved");
        }
        let r = await ask({ buffer: buf, value: 7 }, cloneRefused ? [] : [buf]);
        assert.deepEqual(r, { length: 4096, first: 42, second: 7 });
        const shared = keeper.bytes[1] === 7;
        assert.equal(
          shared,
          buffersDetach && !cloneRefused,
          "shared only where buffers can be moved",
        );
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

test("the whole file leaves ipcs -m as it found it", () => assertShmAsAtStart(shmAtStart));
