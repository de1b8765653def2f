// PosixSharedMemory: named memory (shm_open), anonymous memory (memfd) handed
// to a child, adoption by descriptor; views emptied by close() and resize();
// read-only opens; bad input; C and Python peers (multiprocessing.shared_memory).
import assert from "node:assert/strict";
import process from "node:process";
import { getBackend, IpcError, libc, pipe, PosixSharedMemory, spawn } from "./_support/lib.ts";
import { fileMode, isRoot, listDir } from "./_support/procfs.ts";
import { buffersDetach } from "./_support/shm.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import {
  AsUser,
  compileC,
  fixtureArgv,
  interopFile,
  Lines,
  run,
  start,
} from "./_support/children.ts";
import { rmSync } from "node:fs";

const PYTHON = "/usr/bin/python3";

/** `ftruncate(2)` through libc, as another program would call it. */
const truncater = () =>
  libc({ ftruncate: { parameters: ["i32", "i64"], result: "i32" } } as const)();
const dec = new TextDecoder();

/** Python attaches to `mem` by its name (without the "/"), prints the string at 0, writes `text` at 64. */
const pythonAttach = (mem: PosixSharedMemory, text: string, ...flags: string[]) =>
  run(PYTHON, [interopFile("posix_shm_peer.py"), "attach", mem.name!.slice(1), text, ...flags]);
let names = 0;
const freshName = () => `/sysipc_test_${process.pid}_${names++}`;

/** The NUL-terminated string at `offset`. */
function cStringAt(mem: PosixSharedMemory, offset: number): string {
  const raw = mem.read(offset);
  const end = raw.indexOf(0);
  return dec.decode(raw.subarray(0, end < 0 ? raw.length : end));
}

/**
 * Asserts that a view handed out before close() or resize() no longer
 * reaches the memory: length 0 where the runtime detaches buffers (Deno,
 * Bun); on Node 20, which cannot, the documented fallback — it reads the
 * anonymous placeholder's zeros, and its writes reach nobody.
 */
function assertDead(view: Uint8Array | Int32Array | Float64Array, live?: Uint8Array): void {
  if (buffersDetach) {
    assert.equal(view.length, 0, "the view is emptied");
    assert.equal(view[0], undefined);
    return;
  }
  assert.ok(view.every((x) => x === 0), "the stale view reads the placeholder's zeros");
  if (live === undefined) return;
  view[0] = 5;
  assert.notEqual(live[0], 5, "a stale view's write reaches nobody");
}

const shmEntries = () => listDir("/dev/shm") ?? [];

/**
 * Asserts that `fn` leaves this process's descriptors and `/dev/shm` as it
 * found them (the runner gives each suite its own `/dev/shm` where it can).
 */
async function noLeaks(fn: () => Promise<void> | void): Promise<void> {
  const before = shmEntries();
  await assertNoFdLeak(fn);
  assert.deepEqual(shmEntries(), before, "/dev/shm changed");
}

/** Whether `name` is in `/dev/shm`. */
const listed = (name: string) => shmEntries().includes(name.slice(1));

let cPeer: Promise<string> | undefined;
let cDir: string | undefined;
/** The C peer (`tests/interop/posix_peer.c`), compiled once. */
function posixPeer(): Promise<string> {
  cDir ??= tempDir("sysipc_posix_c_");
  return cPeer ??= compileC(interopFile("posix_peer.c"), cDir);
}

test("create, open, view and write: two handles on one name see the same bytes", async () => {
  await noLeaks(() => {
    const name = freshName();
    using a = PosixSharedMemory.create(name, { size: 5000 });
    try {
      assert.equal(a.name, name);
      assert.equal(a.size, 5000);
      assert.equal(a.readOnly, false);
      assert.ok(a.fd >= 0);
      assert.ok(listed(name));
      assert.ok(a.bytes.every((b) => b === 0), "starts zeroed");
      using b = PosixSharedMemory.open(name);
      assert.equal(b.size, 5000, "open() takes the size from fstat");
      a.view(Float64Array)[3] = Math.PI;
      assert.equal(b.view(Float64Array)[3], Math.PI);
      b.write("héllo", 100);
      assert.equal(dec.decode(a.read(100, 6)), "héllo");
      assert.equal(a.buffer, a.buffer, "one buffer while mapped");
      assert.equal(a.bytes.length, 5000);
    } finally {
      a.unlink();
    }
    assert.equal(listed(name), false);
  });
});

test("create() without a name picks a unique one; options may come first", async () => {
  await noLeaks(() => {
    using a = PosixSharedMemory.create({ size: 8 });
    using b = PosixSharedMemory.create(undefined, { size: 8 });
    try {
      assert.match(a.name!, /^\/sysipc_[0-9a-f]{16}$/);
      assert.notEqual(a.name, b.name);
    } finally {
      a.unlink();
      b.unlink();
    }
  });
});

test("mode is applied exactly (not masked by the umask); exclusive: EEXIST, or open the existing one", async () => {
  await noLeaks(() => {
    const name = freshName();
    using a = PosixSharedMemory.create(name, { size: 64, mode: 0o666 });
    try {
      assert.equal(fileMode(`/dev/shm${name}`), 0o666);
      assert.throws(
        () => PosixSharedMemory.create(name, { size: 64 }),
        (e) =>
          e instanceof IpcError && e.code === "EEXIST" && e.syscall === "shm_open" &&
          e.message === `Cannot create shared memory (shm_open, ${name}): EEXIST`,
      );
      a.bytes[0] = 9;
      using same = PosixSharedMemory.create(name, { size: 32, exclusive: false });
      assert.equal(same.size, 64, "the existing object, at its own size");
      assert.equal(same.bytes[0], 9);
      assert.throws(
        () => PosixSharedMemory.create(name, { size: 65, exclusive: false }),
        (e) =>
          e instanceof IpcError && e.code === "EINVAL" &&
          e.message.includes("it exists with 64 bytes, fewer than the 65 asked for"),
      );
    } finally {
      a.unlink();
    }
  });
});

test("read-only opens never hand out a writable view: buffer, bytes, view() and write() throw; read() copies", async () => {
  await noLeaks(() => {
    using a = PosixSharedMemory.create({ size: 16 });
    try {
      a.write("ro");
      using r = PosixSharedMemory.open(a.name!, { readOnly: true });
      assert.equal(r.readOnly, true);
      for (
        const f of [() => r.buffer, () => r.bytes, () => r.view(Uint8Array), () => r.write("x")]
      ) {
        assert.throws(f, { name: "TypeError", message: /mapped read-only/ });
      }
      assert.throws(() => r.resize(32), { name: "TypeError", message: /read-only/ });
      const copy = r.read(0, 2);
      assert.equal(dec.decode(copy), "ro");
      copy[0] = 0;
      assert.equal(a.bytes[0], "r".charCodeAt(0), "a copy, not a view");
    } finally {
      a.unlink();
    }
  });
});

test("close() empties every view first, sets fd to -1, is idempotent; then every use is a TypeError", async () => {
  await noLeaks(() => {
    const mem = PosixSharedMemory.anonymous({ size: 4096 });
    const views = [mem.bytes, mem.view(Int32Array), mem.view(Float64Array, 8, 2)];
    const buffer = mem.buffer;
    views[1][0] = 1;
    mem.close();
    mem.close();
    assert.equal(mem.fd, -1);
    assert.equal(mem.closed, true);
    if (buffersDetach) assert.equal(buffer.byteLength, 0);
    for (const v of views) assertDead(v);
    for (
      const f of [() => mem.bytes, () => mem.read(), () => mem.write("x"), () => mem.resize(8192)]
    ) {
      assert.throws(f, {
        name: "TypeError",
        message: /^Cannot [a-z ]+: shared memory fd \d+ is closed$/,
      });
    }
  });
});

test("resize() grows: old views are emptied, the new mapping keeps the data, other handles can follow; shrinking is a RangeError", async () => {
  await noLeaks(() => {
    using a = PosixSharedMemory.create({ size: 4096 });
    try {
      a.write("kept");
      const old = a.view(Uint8Array);
      a.resize(4096); // the same size: nothing to do
      assert.equal(old.length, 4096);
      a.resize(3 * 4096 + 1);
      assertDead(old, a.bytes);
      assert.equal(a.size, 3 * 4096 + 1);
      assert.equal(dec.decode(a.read(0, 4)), "kept");
      a.bytes[3 * 4096] = 7; // the last byte of the grown object
      using b = PosixSharedMemory.open(a.name!);
      assert.equal(b.size, 3 * 4096 + 1);
      assert.equal(b.bytes[3 * 4096], 7);
      assert.throws(() => a.resize(100), {
        name: "RangeError",
        message: /^size must be an integer from 12289 .*shrinking would kill/,
      });
      // Another handle that maps less grows its mapping without truncating the object.
      using small = PosixSharedMemory.open(a.name!);
      a.resize(5 * 4096);
      small.resize(4 * 4096);
      using check = PosixSharedMemory.open(a.name!);
      assert.equal(check.size, 5 * 4096, "the object kept its larger size");
    } finally {
      a.unlink();
    }
  });
});

test("unlink() works on a closed handle; unlinking a gone name is ENOENT; anonymous memory has no name", async () => {
  await noLeaks(() => {
    const name = freshName();
    const a = PosixSharedMemory.create(name, { size: 8 });
    a.close();
    assert.ok(listed(name));
    a.unlink();
    assert.equal(listed(name), false);
    assert.throws(
      () => a.unlink(),
      (e) =>
        e instanceof IpcError && e.code === "ENOENT" && e.syscall === "shm_unlink" &&
        e.message === `Cannot unlink shared memory (shm_unlink, ${name}): ENOENT`,
    );
    assert.throws(() => PosixSharedMemory.unlink(name), { name: "IpcError", code: "ENOENT" });
    assert.throws(() => PosixSharedMemory.open(name), {
      name: "IpcError",
      code: "ENOENT",
      message: `Cannot open shared memory (shm_open, ${name}): ENOENT`,
    });
    using anon = PosixSharedMemory.anonymous({ size: 8 });
    assert.equal(anon.name, null);
    assert.throws(() => anon.unlink(), { name: "TypeError", message: /it has no name/ });
  });
});

test("anonymous() memory leaves nothing in /dev/shm and is close-on-exec", async () => {
  await noLeaks(async () => {
    const before = shmEntries();
    using mem = PosixSharedMemory.anonymous({ size: 1 << 16 });
    assert.deepEqual(shmEntries(), before);
    // A child started without fds gets nothing: its descriptor 3+ is not ours.
    const [cmd, args] = ["sh", [
      "-c",
      `test -e /proc/self/fd/${mem.fd} && echo open || echo closed`,
    ]];
    const out = await run(cmd, args);
    assert.equal(out.stdout.trim(), "closed");
  });
});

test("anonymous memory is sealed against shrinking: a truncate by anyone fails with EPERM, growing works", async () => {
  await noLeaks(async () => {
    using mem = PosixSharedMemory.anonymous({ size: 8192 });
    const { ftruncate } = truncater();
    assert.equal(ftruncate(mem.fd, 4096n), -1, "shrinking is refused");
    // A child that tries, through its inherited descriptor: the shell opens
    // /proc/self/fd/3 with O_TRUNC, which the seal refuses too.
    const [cmd, args] = ["sh", [
      "-c",
      "(true > /proc/self/fd/3) 2>/dev/null && echo truncated || echo refused",
    ]];
    const out = pipe();
    const child = spawn(cmd, { args, stdout: out.writeEnd, fds: { 3: mem } });
    out.writeEnd.close();
    const lines = new Lines(out.readEnd);
    try {
      assert.equal(await lines.next(), "refused");
      await child.status;
    } finally {
      lines.close();
    }
    mem.resize(16384);
    assert.equal(mem.bytes.length, 16384);
  });
});

test("a child adopts anonymous memory handed over with spawn({ fds: { 3: mem } }); the parent reads what it wrote", async () => {
  await noLeaks(async () => {
    using mem = PosixSharedMemory.anonymous({ size: 8192 });
    const out = pipe();
    const [cmd, args] = fixtureArgv("posix_child.ts", ["fd-write", 3, "hello from the child"]);
    const child = spawn(cmd, { args, stdout: out.writeEnd, fds: { 3: mem } });
    out.writeEnd.close();
    const lines = new Lines(out.readEnd);
    try {
      assert.deepEqual(await lines.json(), { size: 8192, readOnly: false });
      assert.equal((await child.status).success, true);
    } finally {
      lines.close();
    }
    assert.equal(cStringAt(mem, 0), "hello from the child");
  });
});

/** Runs posix_child.ts with `handle` as its descriptor 3; its one line of JSON. */
async function childWithFd3(handle: { fd: number }, args: (string | number)[]) {
  const out = pipe();
  const [cmd, argv] = fixtureArgv("posix_child.ts", args);
  const child = spawn(cmd, { args: argv, stdout: out.writeEnd, fds: { 3: handle } });
  out.writeEnd.close();
  const lines = new Lines(out.readEnd);
  try {
    const r = await lines.json();
    assert.equal((await child.status).success, true);
    return r;
  } finally {
    lines.close();
  }
}

test("a descriptor opened read-only is adopted read-only: the child gets no writable view", async () => {
  await noLeaks(async () => {
    using mem = PosixSharedMemory.create({ size: 100 });
    try {
      using ro = PosixSharedMemory.open(mem.name!, { readOnly: true });
      assert.deepEqual(await childWithFd3(ro, ["fd-info", 3]), { size: 100, readOnly: true });
      assert.deepEqual(await childWithFd3(mem, ["fd-info", 3]), { size: 100, readOnly: false });
    } finally {
      mem.unlink();
    }
  });
});

test("fromFd() refuses what is not shared memory, or not open, naming the descriptor", async () => {
  await noLeaks(() => {
    using p = pipe();
    assert.throws(() => PosixSharedMemory.fromFd(p.readEnd.fd), {
      name: "TypeError",
      message:
        `Cannot adopt shared memory: fd ${p.readEnd.fd} is not shared memory (not a regular file)`,
    });
    assert.throws(() => PosixSharedMemory.fromFd(1_000_000), {
      name: "IpcError",
      code: "EBADF",
    });
    assert.throws(() => PosixSharedMemory.fromFd(-1), { name: "RangeError" });
    assert.throws(() => PosixSharedMemory.fromFd("3" as unknown as number), { name: "TypeError" });
  });
});

test("bad names and sizes are refused before any call, naming the parameter", async () => {
  await noLeaks(() => {
    const rule = /^name must be a name of one leading "\/" and 1 to 255 bytes without "\/" or NUL/;
    for (const name of ["", "noslash", "/", "/a/b", `/${"x".repeat(256)}`, "/a\0b", "/.", "/.."]) {
      assert.throws(() => PosixSharedMemory.create(name, { size: 8 }), {
        name: "TypeError",
        message: rule,
      });
      assert.throws(() => PosixSharedMemory.open(name), { name: "TypeError", message: rule });
      assert.throws(() => PosixSharedMemory.unlink(name), { name: "TypeError", message: rule });
    }
    for (const name of [null, 5, {}]) {
      assert.throws(() => PosixSharedMemory.open(name as unknown as string), { name: "TypeError" });
    }
    assert.throws(
      () => PosixSharedMemory.create(null as unknown as string, { size: 8 }),
      { name: "TypeError", message: /^name must be/ },
    );
    const name = freshName();
    for (const size of [0, -1]) {
      assert.throws(() => PosixSharedMemory.create(name, { size }), {
        name: "RangeError",
        message: /^size must be/,
      });
      assert.throws(() => PosixSharedMemory.anonymous({ size }), { name: "RangeError" });
    }
    for (const size of [1.5, NaN, "8", undefined]) {
      assert.throws(
        () => PosixSharedMemory.create(name, { size: size as number }),
        { name: "TypeError", message: /^size must be/ },
      );
    }
    assert.throws(() => PosixSharedMemory.create(name, { size: 8, mode: 0o1000 }), {
      name: "RangeError",
    });
    assert.throws(
      () => PosixSharedMemory.create(name, { size: 8, exclusive: "yes" as unknown as boolean }),
      { name: "TypeError", message: /^exclusive must be/ },
    );
    assert.throws(() => PosixSharedMemory.open(name, { readOnly: 1 as unknown as boolean }), {
      name: "TypeError",
    });
    assert.throws(() => new (PosixSharedMemory as unknown as new () => unknown)(), {
      name: "TypeError",
      message: /not constructed directly/,
    });
    assert.equal(listed(name), false, "nothing was created");
  });
});

test("a size beyond the free space of /dev/shm is ENOSPC before anything is created (no SIGBUS later)", async () => {
  await noLeaks(() => {
    const name = freshName();
    const before = shmEntries();
    // Bun refuses sizes over 4 GiB first (the most it can map; see
    // shm_test.ts); the free-space check is the same code on every runtime.
    const refused = getBackend().maxBufferBytes > 2 ** 32
      ? (e: unknown) =>
        e instanceof IpcError && e.code === "ENOSPC" && e.syscall === "statvfs" &&
        /more would not fit: \/dev\/shm has .* free, and touching a page past its free space would kill the process with SIGBUS/
          .test(e.message)
      : (e: unknown) =>
        e instanceof RangeError && /the largest ArrayBuffer .* can map/.test(e.message);
    assert.throws(() => PosixSharedMemory.create(name, { size: 2 ** 52 }), refused);
    assert.deepEqual(shmEntries(), before);
    using mem = PosixSharedMemory.create(name, { size: 4096 });
    try {
      assert.throws(() => mem.resize(2 ** 52), refused);
      assert.equal(mem.size, 4096, "the failed resize changed nothing");
      assert.equal(mem.bytes.length, 4096);
    } finally {
      mem.unlink();
    }
  });
});

test({
  name: "another user's 0o600 memory is refused (EACCES); 0o644 lets them read but not write",
  ignore: !isRoot(), // needs setpriv to become `nobody`
  async fn() {
    await noLeaks(async () => {
      using nobody = new AsUser(65534, 65534);
      const asNobody = async (name: string, access: string) => {
        const out = await nobody.runFixture("posix_child.ts", ["open-shm", name, access]);
        assert.equal(out.code, 0, out.stderr);
        return JSON.parse(out.stdout);
      };
      using secret = PosixSharedMemory.create({ size: 8 });
      try {
        assert.deepEqual(await asNobody(secret.name!, "ro"), {
          name: "IpcError",
          code: "EACCES",
          message: `Cannot open shared memory (shm_open, ${secret.name}): EACCES`,
        });
      } finally {
        secret.unlink();
      }
      using shared = PosixSharedMemory.create({ size: 8, mode: 0o644 });
      try {
        shared.bytes[0] = 6;
        assert.deepEqual(await asNobody(shared.name!, "ro"), { ok: true, first: 6 });
        assert.equal((await asNobody(shared.name!, "rw")).code, "EACCES");
      } finally {
        shared.unlink();
      }
    });
  },
});

test("C peer: memory a C program made with shm_open is read here; ours is read and written by C", async () => {
  await noLeaks(async () => {
    const peer = await posixPeer();
    const name = freshName();
    try {
      const made = await run(peer, ["shm-create", name, "8192", "made in C"]);
      assert.equal(made.stdout.trim(), "created", made.stderr);
      using mem = PosixSharedMemory.open(name);
      assert.equal(mem.size, 8192);
      assert.equal(cStringAt(mem, 0), "made in C");
    } finally {
      PosixSharedMemory.unlink(name);
    }
    using ours = PosixSharedMemory.create({ size: 4096 });
    try {
      ours.write("made in TypeScript\0");
      const out = await run(peer, ["shm-write", ours.name!, "C was here"]);
      assert.equal(out.stdout.trim(), "made in TypeScript", out.stderr);
      assert.equal(cStringAt(ours, 64), "C was here");
    } finally {
      ours.unlink();
    }
  });
});

test("Python multiprocessing.shared_memory: Python creates and we read and write; we create and Python reads and writes", async () => {
  await noLeaks(async () => {
    await using py = start(PYTHON, [
      interopFile("posix_shm_peer.py"),
      "create",
      "4096",
      "from Python",
    ], {
      stdin: "pipe",
    });
    const pyName = await py.stdout.next();
    assert.match(pyName, /^psm_/, "Python leaves the / out of its names");
    {
      using mem = PosixSharedMemory.open(`/${pyName}`);
      assert.equal(cStringAt(mem, 0), "from Python");
      mem.write("from TypeScript\0", 64);
    }
    await py.send("go");
    assert.equal(await py.stdout.next(), "from TypeScript");
    assert.equal((await py.status).success, true);
    assert.equal(listed(`/${pyName}`), false, "Python unlinked what it created");

    using ours = PosixSharedMemory.create({ size: 4096 });
    try {
      ours.write("from TypeScript\0");
      const out = await pythonAttach(ours, "from Python");
      assert.equal(out.stdout.trim(), "from TypeScript", out.stderr);
      assert.equal(cStringAt(ours, 64), "from Python");
      assert.ok(listed(ours.name!), "the name survives a Python process that unregistered it");
    } finally {
      ours.unlink();
    }
  });
});

test("Python 3.8–3.12's resource tracker unlinks memory a Python process merely attached to, when it exits (why the README says to unregister)", async () => {
  await noLeaks(async () => {
    using ours = PosixSharedMemory.create({ size: 4096 });
    let unlinked = false;
    try {
      ours.write("x\0");
      const out = await pythonAttach(ours, "y", "keep-tracker");
      assert.equal(out.code, 0, out.stderr);
      const version = await run(PYTHON, [
        "-c",
        "import sys; print(sys.version_info[:2] < (3, 13))",
      ]);
      if (version.stdout.trim() === "True") {
        assert.equal(listed(ours.name!), false, "the tracker unlinked our memory");
        unlinked = true;
      }
      assert.equal(cStringAt(ours, 64), "y", "our mapping still works after the unlink");
    } finally {
      if (!unlinked) ours.unlink();
    }
  });
});

test("cleanup: the compiled C peer's directory", () => {
  if (cDir !== undefined) rmSync(cDir, { recursive: true, force: true });
});
