/**
 * 共享内存没有同步: shared memory gives processes the same bytes, and nothing
 * else — the seed's server reads whatever is there, whenever it looks. This
 * demo adds the synchronisation: producer processes pass numbered records to
 * consumer processes through a ring of slots in a `SharedMemory` segment,
 * guarded by three semaphores — the classic bounded buffer:
 *
 * - `empty` (starts at the number of slots): a producer takes one before it
 *   fills a slot, so it waits while the ring is full;
 * - `full` (starts at 0): a consumer takes one before it empties a slot, so
 *   it waits while the ring is empty;
 * - `mutex` (starts at 1): only one process at a time moves the ring's head
 *   or tail (`using _ = await mutex.lock()`).
 *
 * Every record arrives exactly once, and each producer's records arrive in
 * order. With `--no-sync` the same ring is used with no semaphores at all
 * (one producer, one consumer, each at its own pace): records are lost and
 * read twice, which is what the seed means by 没有同步.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/bounded_buffer.ts [PRODUCERS=2] [CONSUMERS=2] [RECORDS=5000] [SLOTS=8] [--no-sync]
 *     bun examples/bounded_buffer.ts [PRODUCERS=2] …
 *     node node_modules/sysipc/examples/bounded_buffer.js [PRODUCERS=2] …     (the npm package)
 *
 * RECORDS is per producer.
 *
 * @module
 */
import { SemaphoreSet, SharedMemory } from "../sysv/mod.ts";
import { pipe, spawn } from "../pipe/mod.ts";
import { args, type Command, isMain, selfCommand } from "./_run.ts";

/** Semaphore indexes in the set. */
const EMPTY = 0, FULL = 1, MUTEX = 2, GATE = 3;
/** Ring layout, in 32-bit words: [head, tail, slots, 0] then `slots` × [seq, producer, check, 0]. */
const HEADER = 4, SLOT = 4;
/** The record that tells a consumer to stop. */
const STOP = 0xffff_ffff;

/** A value derived from the sequence number, so a torn or stale slot is noticed. */
const checkOf = (seq: number) => Math.imul(seq ^ 0x5bd1e995, 0x9e3779b1) >>> 0;

/** What {@linkcode boundedBuffer} found. */
export interface BufferResult {
  /** Records the producers sent. */
  sent: number;
  /** Records the consumers received (duplicates counted). */
  received: number;
  /** Sequence numbers never received. */
  lost: number;
  /** Receipts of a sequence number already received. */
  duplicated: number;
  /** Records whose check value did not match (torn or stale slots). */
  corrupt: number;
  /** Per-producer order broken within one consumer. */
  reordered: number;
  /** Records per consumer. */
  perConsumer: number[];
  /** From the gate opening to the last consumer's exit. */
  ms: number;
}

/** Options for {@linkcode boundedBuffer}. */
export interface BufferOptions {
  /** Producer processes (default 2; 1 with `sync: false`). */
  producers?: number;
  /** Consumer processes (default 2; 1 with `sync: false`). */
  consumers?: number;
  /** Records per producer (default 5000). */
  records?: number;
  /** Slots in the ring (default 8). */
  slots?: number;
  /** Use the semaphores (default `true`). */
  sync?: boolean;
  /** Where progress lines go. */
  log?: (line: string) => void;
  /**
   * How to start a producer or consumer with these arguments (the first is
   * `"produce"` or `"consume"`). Default: this file again, in this runtime.
   * The processes need not be of one runtime: they share only the segment
   * and the semaphores (the cross-runtime tests mix Deno, Node and Bun).
   */
  launch?: (args: string[]) => Command;
}

/**
 * The parent: make the ring and the semaphores, start producers and
 * consumers, open the gate, send each consumer a stop record once the
 * producers are done, and check what the consumers report.
 *
 * @param options Sizes, whether to synchronise, and a log.
 * @returns What arrived, and what went wrong.
 */
export async function boundedBuffer(options: BufferOptions = {}): Promise<BufferResult> {
  const sync = options.sync ?? true;
  const producers = sync ? options.producers ?? 2 : 1;
  const consumers = sync ? options.consumers ?? 2 : 1;
  const { records = 5000, slots = 8, log = console.log } = options;
  const launch = options.launch ?? ((a: string[]) => selfCommand(import.meta.url, a));
  using shm = SharedMemory.create({ size: 4 * (HEADER + SLOT * slots) });
  using set = SemaphoreSet.create({ count: 4, initial: [slots, 0, 1, 0] });
  const outputs: Promise<string>[] = [];
  try {
    const ring = shm.view(Uint32Array);
    ring[2] = slots;
    const common = [String(shm.id), String(set.id), String(records), sync ? "sync" : "no-sync"];
    const children = [];
    for (let p = 0; p < producers; p++) {
      const cmd = launch(["produce", ...common, String(p)]);
      children.push(spawn(cmd.command, { args: cmd.args }));
    }
    const consumerChildren = [];
    for (let c = 0; c < consumers; c++) {
      const out = pipe();
      const cmd = launch(["consume", ...common]);
      const child = spawn(cmd.command, { args: cmd.args, stdout: out.writeEnd });
      out.writeEnd.close();
      outputs.push(new Response(out.readable).text());
      consumerChildren.push(child);
    }
    const all = [...children, ...consumerChildren];
    let exited = 0;
    for (const c of all) c.status.then(() => exited++);
    while (set.at(GATE).waitingForIncrease < all.length) {
      if (exited > 0) throw new Error("A child exited before reaching the gate");
      await new Promise((r) => setTimeout(r, 5));
    }
    log(
      sync
        ? `${producers} producers × ${records} records → ${slots}-slot ring → ${consumers} consumers`
        : `1 producer × ${records} records → ${slots}-slot ring → 1 consumer, NO semaphores`,
    );
    const t0 = performance.now();
    set.at(GATE).release(all.length);
    for (const c of children) {
      const st = await c.status;
      if (!st.success) throw new Error(`A producer failed: ${JSON.stringify(st)}`);
    }
    if (sync) {
      // One stop record per consumer, sent through the same protocol.
      for (let c = 0; c < consumers; c++) await put(set, ring, STOP, 0, true);
    }
    for (const c of consumerChildren) {
      const st = await c.status;
      if (!st.success) throw new Error(`A consumer failed: ${JSON.stringify(st)}`);
    }
    const ms = performance.now() - t0;
    const reports = (await Promise.all(outputs)).map((t) => JSON.parse(t) as Report);
    const result = check(reports, producers, records, ms);
    log(
      `sent ${result.sent}, received ${result.received} (${result.perConsumer.join(" + ")}): ` +
        `${result.lost} lost, ${result.duplicated} duplicated, ${result.corrupt} corrupt, ` +
        `${result.reordered} out of order — ${ms.toFixed(0)} ms`,
    );
    return result;
  } finally {
    shm.remove();
    set.remove();
  }
}

/** What a consumer prints: the records it took, in the order it took them. */
interface Report {
  seqs: number[];
  producers: number[];
  corrupt: number;
}

function check(reports: Report[], producers: number, records: number, ms: number): BufferResult {
  const sent = producers * records;
  const seen = new Uint8Array(sent);
  let duplicated = 0, reordered = 0, corrupt = 0, received = 0;
  for (const r of reports) {
    corrupt += r.corrupt;
    const last = new Map<number, number>();
    r.seqs.forEach((seq, i) => {
      received++;
      if (seq >= sent) return; // garbage: counted as corrupt by the consumer
      if (seen[seq]++ > 0) duplicated++;
      const p = r.producers[i];
      if ((last.get(p) ?? -1) > seq) reordered++;
      last.set(p, seq);
    });
  }
  const lost = seen.reduce((n, s) => n + (s === 0 ? 1 : 0), 0);
  return {
    sent,
    received,
    lost,
    duplicated,
    corrupt,
    reordered,
    perConsumer: reports.map((r) => r.seqs.length),
    ms,
  };
}

/**
 * How long any one wait may take: far more than a healthy run needs, so a
 * broken run (a lost record, a dead peer) fails instead of hanging.
 */
const WAIT = { timeout: 60_000 };

/** Puts one record into the ring (producer side of the protocol). */
async function put(
  set: SemaphoreSet,
  ring: Uint32Array,
  seq: number,
  producer: number,
  sync: boolean,
): Promise<void> {
  const slots = ring[2];
  if (sync) await set.at(EMPTY).acquire(WAIT); // P(empty): wait for a free slot
  {
    using _ = sync ? await set.at(MUTEX).lock(WAIT) : undefined; // P(mutex) … V(mutex)
    const head = ring[0];
    yieldCpu(); // make races likely: another process may run right here
    const at = HEADER + SLOT * (head % slots);
    ring[at] = seq;
    ring[at + 1] = producer;
    ring[at + 2] = checkOf(seq);
    ring[0] = head + 1;
  }
  if (sync) set.at(FULL).release(); // V(full): one more record to take
}

/** Takes one record from the ring (consumer side of the protocol). */
async function take(
  set: SemaphoreSet,
  ring: Uint32Array,
  sync: boolean,
): Promise<[seq: number, producer: number, check: number]> {
  const slots = ring[2];
  if (sync) await set.at(FULL).acquire(WAIT); // P(full): wait for a record
  let rec: [number, number, number];
  {
    using _ = sync ? await set.at(MUTEX).lock(WAIT) : undefined;
    const tail = ring[1];
    yieldCpu();
    const at = HEADER + SLOT * (tail % slots);
    rec = [ring[at], ring[at + 1], ring[at + 2]];
    ring[1] = tail + 1;
  }
  if (sync) set.at(EMPTY).release(); // V(empty): the slot is free again
  return rec;
}

const nap = new Int32Array(new SharedArrayBuffer(4));
/** Gives the CPU away for a moment (a futex wait that times out after ~10 µs). */
function yieldCpu(): void {
  Atomics.wait(nap, 0, 0, 0.01);
}

async function producer(shmId: number, semId: number, records: number, sync: boolean, p: number) {
  using shm = SharedMemory.fromId(shmId);
  const set = SemaphoreSet.fromId(semId);
  const ring = shm.view(Uint32Array);
  await set.at(GATE).acquire();
  for (let i = 0; i < records; i++) await put(set, ring, p * records + i, p, sync);
}

async function consumer(shmId: number, semId: number, records: number, sync: boolean) {
  using shm = SharedMemory.fromId(shmId);
  const set = SemaphoreSet.fromId(semId);
  const ring = shm.view(Uint32Array);
  const report: Report = { seqs: [], producers: [], corrupt: 0 };
  await set.at(GATE).acquire();
  // With semaphores: until a stop record. Without: as many takes as records sent.
  for (let i = 0; sync || i < records; i++) {
    const [seq, p, check] = await take(set, ring, sync);
    if (sync && seq === STOP) break;
    if (check !== checkOf(seq)) report.corrupt++;
    report.seqs.push(seq);
    report.producers.push(p);
  }
  console.log(JSON.stringify(report));
}

if (isMain(import.meta)) {
  const [role, shmId, semId, records, how, p] = args;
  if (role === "produce") {
    await producer(+shmId, +semId, +records, how === "sync", +p);
  } else if (role === "consume") {
    await consumer(+shmId, +semId, +records, how === "sync");
  } else {
    const flags = args.filter((a) => a.startsWith("--"));
    const [producers, consumers, n, slots] = args.filter((a) => !a.startsWith("--"))
      .map(Number);
    await boundedBuffer({
      producers,
      consumers,
      records: n,
      slots,
      sync: !flags.includes("--no-sync"),
    });
  }
}
