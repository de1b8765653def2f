// Channel against peers written from channel/LAYOUT.md alone: a C peer
// (tests/interop/channel_peer.c: atomics and futexes) on either side, by
// descriptor and by name, and a polling Python peer
// (tests/interop/channel_peer.py: mmap + struct). Small rings (4096, 8192
// bytes) make wrap markers and full rings happen all the time.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import { Channel } from "./_support/lib.ts";
import { listDir } from "./_support/procfs.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { compileC, interopFile, type Proc, start } from "./_support/children.ts";
import { until } from "./_support/timing.ts";

const PYTHON = "/usr/bin/python3";
/** Long enough for a loaded machine; a wait that runs out is a failure, not a measurement. */
const WAIT = { timeout: 60_000 };

// ---------------------------------------------------------------------------
// The messages both peers make and check (the same formulas as channel_peer.c)
// ---------------------------------------------------------------------------

/** Message i's size in "varied" mode: 0, the largest, and sizes in between. */
function msgSize(i: number, max: number): number {
  switch (i % 8) {
    case 0:
      return 0;
    case 1:
      return max;
    case 2:
      return 1;
    case 3:
      return 8;
    case 4:
      return ((Math.imul(i, 2654435761) >>> 0) >>> 7) % (max + 1);
    case 5:
      return max - 1;
    case 6:
      return (Math.imul(i, 40503) >>> 0) % 64;
    default:
      return ((Math.imul(i, 2246822519) >>> 0) >>> 3) % (max + 1);
  }
}

/** Message i of `length` bytes: byte j is (i·131 + j·7 + j/256) mod 256. */
function message(i: number, length: number): Uint8Array {
  const m = new Uint8Array(length);
  for (let j = 0; j < length; j++) m[j] = i * 131 + j * 7 + (j >>> 8);
  return m;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, k) => {
  let c = k;
  for (let b = 0; b < 8; b++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(crc: number, bytes: Uint8Array): number {
  let c = ~crc;
  for (let k = 0; k < bytes.length; k++) c = CRC_TABLE[(c ^ bytes[k]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The peers' checksum: CRC-32 over each message's length (4 bytes, little-endian), then its bytes. */
class Sum {
  messages = 0;
  bytes = 0;
  checksum = 0;
  add(m: Uint8Array): void {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, m.length, true);
    this.checksum = crc32(crc32(this.checksum, len), m);
    this.messages++;
    this.bytes += m.length;
  }
}

/** What a peer prints when it is done. */
interface Report {
  mode: string;
  messages: number;
  bytes: number;
  checksum: number;
  waits?: number;
  wakes?: number;
  stalls?: number;
  polls?: number;
}

function assertFirst(got: Uint8Array, i: number, want: Uint8Array): void {
  if (got.length !== want.length || got.some((b, k) => b !== want[k])) {
    const at = got.findIndex((b, k) => b !== want[k]);
    assert.fail(
      `message ${i}: ${got.length} bytes (want ${want.length}), first difference at ${at}`,
    );
  }
}

/** Sends messages 0 … n − 1 of varied sizes; returns their sum. */
async function sendVaried(ch: Channel, n: number): Promise<Sum> {
  const sum = new Sum();
  for (let i = 0; i < n; i++) {
    const m = message(i, msgSize(i, ch.maxMessageSize));
    await ch.send(m, WAIT);
    sum.add(m);
  }
  return sum;
}

/** Receives messages 0 … n − 1 and checks each byte; returns their sum. */
async function receiveVaried(ch: Channel, n: number): Promise<Sum> {
  const max = ch.maxMessageSize;
  const sum = new Sum();
  for (let i = 0; i < n; i++) {
    const got = await ch.receive(WAIT);
    assert.ok(got !== null, `the channel ended after ${i} of ${n} messages`);
    assertFirst(got, i, message(i, msgSize(i, max)));
    sum.add(got);
  }
  return sum;
}

/** Bytes the ring carries for sizes 0 … n − 1 (records, without wrap markers). */
function ringBytes(n: number, max: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += 8 + ((msgSize(i, max) + 7) & ~7);
  return total;
}

// ---------------------------------------------------------------------------
// Peers, leaks
// ---------------------------------------------------------------------------

let cPeer: Promise<string> | undefined;
let cDir: string | undefined;
/** tests/interop/channel_peer.c, compiled once (C11, warnings are errors). */
function channelPeer(): Promise<string> {
  return cPeer ??= compileC(interopFile("channel_peer.c"), cDir = tempDir("sysipc_channel_c_"), [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
  ]);
}

/** The peer's last line, once it has exited 0. */
async function finish(p: Proc): Promise<Report> {
  const out = await p.output();
  assert.equal(out.code, 0, `the peer failed (${out.code} ${out.signal}): ${out.stderr}`);
  const lines = out.stdout.trim().split("\n");
  return JSON.parse(lines.at(-1)!) as Report;
}

function assertSame(report: Report, sum: Sum, mode: string): void {
  assert.deepEqual(
    { mode: report.mode, messages: report.messages, bytes: report.bytes, sum: report.checksum },
    { mode, messages: sum.messages, bytes: sum.bytes, sum: sum.checksum },
  );
}

const shmEntries = () => listDir("/dev/shm") ?? [];
const listed = (name: string) => shmEntries().includes(name.slice(1));
let names = 0;
const freshName = () => `/sysipc_chinterop_${process.pid}_${names++}`;

/** Asserts that `fn` leaves this process's descriptors and /dev/shm as it found them. */
async function noLeaks(fn: () => Promise<void>): Promise<void> {
  await channelPeer(); // compiled outside the snapshot
  const before = shmEntries();
  await assertNoFdLeak(fn);
  assert.deepEqual(shmEntries(), before, "/dev/shm changed");
}

// ---------------------------------------------------------------------------
// C, side 1 on descriptor 3
// ---------------------------------------------------------------------------

test("C echoes 3,000 messages of every size back through a 4096-byte channel; every byte checked", async () => {
  await noLeaks(async () => {
    using ch = Channel.create({ capacity: 4096 });
    assert.equal(ch.maxMessageSize, 2040);
    await using c = start(await channelPeer(), ["echo"], { channel: ch });
    const n = 3000;
    // Both directions at once: the C side blocks on a full return ring otherwise.
    const [sent, back] = await Promise.all([sendVaried(ch, n), receiveVaried(ch, n)]);
    assert.deepEqual(back, sent);
    assert.equal(ch.tryReceive(), null, "nothing more than was sent");
    ch.close();
    const r = await finish(c);
    assertSame(r, sent, "echo");
    assert.ok(ringBytes(n, 2040) > 500 * 4096, "the rings wrapped hundreds of times");
    assert.equal(r.stalls, 0, "every sleep of the C side ended with a wake, not its timeout");
  });
});

test("C sends 20,000 messages (0 bytes to the largest) and closes: we read each in order, then null", async () => {
  await noLeaks(async () => {
    using ch = Channel.create({ capacity: 4096 });
    await using c = start(await channelPeer(), ["send", "20000", "varied"], { channel: ch });
    const got = await receiveVaried(ch, 20_000);
    assert.equal(await ch.receive(WAIT), null, "the end, once C closed");
    assert.equal(ch.peerClosed, true);
    await assert.rejects(ch.send("late"), (e: Error & { code?: string }) => e.code === "EPIPE");
    const r = await finish(c);
    assertSame(r, got, "send");
    assert.equal(r.stalls, 0);
  });
});

test("C receives a stream of 20,000 messages we send through 8192 bytes, and the end when we close", async () => {
  await noLeaks(async () => {
    using ch = Channel.create({ capacity: 8192 });
    await using c = start(await channelPeer(), ["receive"], { channel: ch });
    const sent = await sendVaried(ch, 20_000);
    ch.close();
    const r = await finish(c);
    assertSame(r, sent, "receive");
    assert.equal(r.stalls, 0);
  });
});

test("C sends messages of one size: 4,000 of the largest (2040 bytes), 4,000 empty ones", async () => {
  await noLeaks(async () => {
    for (const size of [2040, 0]) {
      using ch = Channel.create({ capacity: 4096 });
      await using c = start(await channelPeer(), ["send", "4000", String(size)], { channel: ch });
      const sum = new Sum();
      for (let i = 0; i < 4000; i++) {
        const m = await ch.receive(WAIT);
        assert.ok(m !== null, `ended after ${i}`);
        assertFirst(m, i, message(i, size));
        sum.add(m);
      }
      assert.equal(await ch.receive(WAIT), null);
      assertSame(await finish(c), sum, "send");
    }
  });
});

// ---------------------------------------------------------------------------
// C and us by name
// ---------------------------------------------------------------------------

test("named: C creates the channel, we open it (the name goes), C echoes; C learned our pid", async () => {
  await noLeaks(async () => {
    const name = freshName();
    await using c = start(await channelPeer(), ["--create", name, "4096", "echo"]);
    const created = await c.stdout.json<{ created: string; pid: number }>();
    assert.deepEqual(created, { created: name, pid: c.pid });
    assert.ok(listed(name));
    {
      using ch = Channel.open(name);
      assert.equal(listed(name), false, "open() removed the name");
      assert.equal(ch.capacity, 4096);
      assert.deepEqual(await c.stdout.json(), { peer: process.pid }, "C woke and saw our pid");
      const n = 2000;
      const [sent, back] = await Promise.all([sendVaried(ch, n), receiveVaried(ch, n)]);
      assert.deepEqual(back, sent);
      ch.close();
      const r = await finish(c);
      assertSame(r, sent, "echo");
      assert.equal(r.stalls, 0);
    }
  });
});

test("named: we create the channel, C opens it by name (and removes the name), sends, closes", async () => {
  await noLeaks(async () => {
    const name = freshName();
    using ch = Channel.create({ name, capacity: 8192 });
    assert.ok(listed(name));
    await using c = start(await channelPeer(), ["--open", name, "send", "5000", "varied"]);
    // C blocks on the full ring until we read, so it cannot finish (and the test pass)
    // without attaching first; it removes the name as it attaches.
    await until("C removed the name", () => !listed(name), 60_000);
    const got = await receiveVaried(ch, 5000);
    assert.equal(await ch.receive(WAIT), null);
    const r = await finish(c);
    assertSame(r, got, "send");
    assert.equal(r.stalls, 0);
  });
});

// ---------------------------------------------------------------------------
// Python, polling
// ---------------------------------------------------------------------------

test("Python (mmap + struct, polling) reads a stream of 12,000 messages through 4096 bytes", async () => {
  await noLeaks(async () => {
    using ch = Channel.create({ capacity: 4096 });
    await using py = start(PYTHON, [interopFile("channel_peer.py"), "receive"], { channel: ch });
    const sent = await sendVaried(ch, 12_000);
    ch.close();
    const r = await finish(py);
    assertSame(r, sent, "receive");
    assert.ok(ringBytes(12_000, 2040) > 2000 * 4096, "the ring wrapped thousands of times");
  });
});

test("Python echoes 2,000 messages back by polling; every byte checked", async () => {
  await noLeaks(async () => {
    using ch = Channel.create({ capacity: 8192 });
    await using py = start(PYTHON, [interopFile("channel_peer.py"), "echo"], { channel: ch });
    const n = 2000;
    const [sent, back] = await Promise.all([sendVaried(ch, n), receiveVaried(ch, n)]);
    assert.deepEqual(back, sent);
    ch.close();
    assertSame(await finish(py), sent, "echo");
  });
});

test("cleanup: the compiled C peer's directory", () => {
  if (cDir !== undefined) rmSync(cDir, { recursive: true, force: true });
});
