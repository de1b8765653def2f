// SharedMemory: layout, attachments, views, lifecycle and errors.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import {
  ftok,
  getBackend,
  IPC,
  IPC_PRIVATE,
  IpcError,
  MMAP,
  PosixSharedMemory,
  SC_PAGESIZE,
  SharedMemory,
  SHM_MODE,
  SHM_RDONLY,
  SHMID_DS,
} from "./_support/lib.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import {
  AsUser,
  compileC,
  interopFile,
  run,
  startFixture,
  withTempDir,
} from "./_support/children.ts";
import { isRoot, listDir, readProcText } from "./_support/procfs.ts";
import {
  assertNoShmLeak,
  assertShmAsAtStart,
  buffersDetach,
  cString,
  freeKey,
  shmRow,
  shmTable,
} from "./_support/shm.ts";

const pid = process.pid;
const shmAtStart = shmTable().map((s) => s.id);

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

/**
 * Whether this runtime's FFI wraps more than 4 GiB in one ArrayBuffer: Deno
 * and Node.js ≥ 22 (koffi or node:ffi) do; Bun stops at 4 GiB.
 */
const WIDE = getBackend().maxBufferBytes > 2 ** 32;

/** What bounds a segment's size here: the kernel, or what the runtime can map (Bun: 4 GiB). */
const SIZE_LIMIT = WIDE ? "kernel\\.shmmax" : "the largest ArrayBuffer (Node\\.js|Bun) .* can map";

test("memory over 4 GiB: mapped on Deno and Node; refused before anything is made where the runtime cannot wrap it (Bun)", async () => {
  const size = 2 ** 32 + 4096;
  const shmBefore = shmTable().length;
  const files = () => listDir("/dev/shm") ?? [];
  const filesBefore = files();
  if (WIDE) {
    const shm = SharedMemory.create({ size });
    try {
      shm.bytes[size - 1] = 7; // one page touched
      assert.equal(shm.bytes.length, size);
      assert.equal(shm.read(size - 1, 1)[0], 7);
    } finally {
      shm.detach();
      shm.remove();
    }
    using mem = PosixSharedMemory.create(undefined, { size });
    try {
      assert.equal(mem.bytes.length, size);
    } finally {
      mem.unlink();
    }
  } else {
    const refused = {
      name: "RangeError",
      message:
        /^size must be an integer from 1 to 4294967296 \(the largest ArrayBuffer .* can map\), got 4294971392$/,
    };
    assert.throws(() => SharedMemory.create({ size }), refused);
    assert.throws(() => PosixSharedMemory.create(undefined, { size }), refused);
    assert.throws(() => PosixSharedMemory.anonymous({ size }), refused);
    using small = PosixSharedMemory.create(undefined, { size: 4096 });
    try {
      assert.throws(() => small.resize(size), refused);
      assert.equal(small.size, 4096, "resize refused: nothing changed");
    } finally {
      small.unlink();
    }
    // A segment another program made that large: opening it is refused, not a crash.
    const made = await run("ipcmk", ["-M", String(size), "-p", "0600"]);
    assert.equal(made.code, 0, made.stderr);
    const id = Number(/id: (\d+)/.exec(made.stdout)![1]);
    try {
      assert.throws(() => SharedMemory.fromId(id), {
        name: "RangeError",
        message:
          /^Cannot map shared memory .*: its 4294971392 bytes are more than .* can make one ArrayBuffer of \(4294967296\); Deno and Node\.js ≥ 22 map it$/,
      });
    } finally {
      SharedMemory.removeById(id);
    }
  }
  assert.equal(shmTable().length, shmBefore, "no segment left behind");
  assert.deepEqual(files(), filesBefore, "no /dev/shm file left behind");
});

test("bad input gets a clear TypeError or RangeError before any system call", async (t) => {
  await assertNoShmLeak(async () => {
    // deno-lint-ignore no-explicit-any
    const create = (o: any) => () => SharedMemory.create(o);
    await t.step("size", () => {
      assert.throws(create({ size: 0 }), {
        name: "RangeError",
        message: new RegExp(`^size must be an integer from 1 to \\d+ \\(${SIZE_LIMIT}\\), got 0$`),
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
        message: new RegExp(`size must be an integer from 1 to \\d+ \\(${SIZE_LIMIT}\\), got`),
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

test("the whole file leaves ipcs -m as it found it", () => assertShmAsAtStart(shmAtStart));
