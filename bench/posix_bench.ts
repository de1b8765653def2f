/**
 * POSIX benchmark: sysipc's `PosixSemaphore` and `PosixSharedMemory` on Deno,
 * Node and Bun, against C doing the same calls.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/posix_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/posix_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/posix_bench.ts --runtimes deno,bun
 * ```
 *
 * (also `deno task bench:posix`). Options as in `bench/sem_bench.ts`
 * (`--quick`, `--json PATH`, `--reps N`, `--rounds N`, `--max-ms`,
 * `--warmup N`, `--warmup-ms MS`, `--pairs N`, `--runtimes`, `--pinnings`,
 * `--node`, `--bun`, `--node-lib`), plus `--mib N` (MiB per copy, default
 * 64) and `--iters N` (timed copies per run, default 10).
 *
 * It compiles `bench/posix_pingpong.c` and `bench/shm_memcpy.c` with
 * `cc -O2` into `bench/bin/` (gitignored), then measures, in one run:
 *
 * 1. Ping-pong round trips (µs) between two processes over two named POSIX
 *    semaphores: one side posts A then waits for B, the other waits for A
 *    then posts B. C ↔ C (fork, `sem_wait`/`sem_post`); X ↔ X (our
 *    `release()` / `await acquire()`, the peer a second process of the same
 *    runtime); X ↔ C (our ping side, the C peer); both again with
 *    `acquireSync()` (`--sync`), which blocks the thread as C does. Goal:
 *    ≤ 1.5× C ↔ C.
 * 2. The uncontended pair (µs): `await sem.acquire(); sem.release();` in one
 *    process; the same with `tryAcquire()`; and C's `sem_trywait` +
 *    `sem_post`. Goal: ≤ 0.5 µs (glibc takes and gives an uncontended POSIX
 *    semaphore without a system call, so the pair is two FFI calls).
 * 3. Copying 64 MiB into and out of POSIX shared memory (GB/s): ours
 *    `mem.bytes.set(src)` and `dst.set(mem.bytes)` (into a preallocated
 *    array), against C `memcpy` into and out of an `shm_open` + `mmap`
 *    mapping. Goal: ≥ 0.8× C. Also `mem.read()`, which allocates a new
 *    array each time (whose pages the copy faults in), against C `malloc` +
 *    `memcpy` into a new buffer each time (shown, no target).
 *
 * The measuring side is `bench/roles/posix_roles.mjs`, one plain-JavaScript
 * file that every runtime runs; under the `0|1` pinning its peer (or C's
 * forked child) gets CPU 1. Every name a run makes is unlinked as soon as
 * both sides hold it, so a killed run leaves nothing in `/dev/shm`.
 *
 * @module
 */
import {
  bin,
  type Check,
  type Config,
  copyRate,
  describeRoundTrips,
  int,
  LABEL,
  main,
  type Pinning,
  type Row,
  semaphoreRows,
  syncRoundTripChecks,
} from "./_harness.ts";

const ROLES = new URL("./roles/posix_roles.mjs", import.meta.url).pathname;
const MiB = 1024 ** 2;

interface Own {
  /** acquire+release pairs per uncontended run. */
  pairs: number;
  /** Bytes per copy. */
  bytes: number;
  /** Timed copies per run. */
  iters: number;
}
type C = Config<Own>;

const info = { target: "(info)" };
const atMost = (x: number, unit = "×") => ({ target: `≤ ${x}${unit}`, ok: (v: number) => v <= x });
const atLeast = (x: number) => ({ target: `≥ ${x}×`, ok: (v: number) => v >= x });

const copy = { unit: "GB/s", sample: copyRate };

await main<Own>({
  name: "POSIX semaphore and shared memory",
  url: import.meta.url,
  runtimes: true,
  roundTrips: true,
  reps: [5, 3],
  timeoutMs: [60_000, 30_000],
  options: ["pairs", "mib", "iters"],
  config: (v, quick) => ({
    pairs: int(v.pairs, quick ? 200_000 : 1_000_000),
    bytes: int(v.mib, quick ? 16 : 64) * MiB,
    iters: int(v.iters, quick ? 5 : 10),
  }),
  peers: ["posix_pingpong", "shm_memcpy"],
  describe: (c) =>
    `round trip: ${describeRoundTrips(c)}; uncontended: ${c.pairs} pairs; ` +
    `copy: ${c.bytes / MiB} MiB × ${c.iters}; median of ${c.reps} runs; ` +
    `spread = (max − min) / median`,

  rows: (ctx) => {
    const memcpy = (id: string, label: string, dir: string): Row<C> => ({
      id,
      label,
      ...copy,
      argv: (c) => [bin("shm_memcpy"), String(c.bytes), String(c.iters), dir, "posix"],
    });
    const ours = (id: string, what: string, op: string): Row<C>[] =>
      ctx.each((rt, L) => ({
        id: `${id}_${rt}`,
        label: `${L}: ${what}`,
        ...copy,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          ctx.role(rt, ROLES, pin, [op, "--bytes", String(c.bytes), "--iters", String(c.iters)]),
      }));
    return [
      ...semaphoreRows(ctx, ROLES, "posix_pingpong", {
        roundTrip: "C ↔ C (fork, sem_wait / sem_post)",
        pair: "C: sem_trywait; sem_post",
      }),
      memcpy("in_c", "C memcpy heap → shm_open mapping", "in"),
      ...ours("in", "mem.bytes.set(src)", "set-in"),
      memcpy("out_c", "C memcpy shm_open mapping → heap", "out"),
      ...ours("out", "dst.set(mem.bytes)", "set-out"),
      memcpy("fresh_c", "C malloc + memcpy mapping → new", "out-fresh"),
      ...ours("read", "mem.read() (allocates)", "read-out"),
    ];
  },

  checksTitle: "measure",
  checks: (selected) => {
    const checks: Check[] = [];
    checks.push(...syncRoundTripChecks(selected));
    for (const rt of selected) {
      const L = LABEL[rt];
      checks.push(
        {
          name: `round trip: ${L}↔${L} / C↔C`,
          of: `rt_${rt}_${rt}`,
          over: "rt_c_c",
          ...atMost(1.5),
        },
        { name: `round trip: ${L}↔C / C↔C`, of: `rt_${rt}_c`, over: "rt_c_c", ...atMost(1.5) },
      );
    }
    for (const rt of selected) {
      checks.push({
        name: `${LABEL[rt]}: uncontended acquire+release (µs)`,
        of: `un_${rt}`,
        ...atMost(0.5, " µs"),
      });
    }
    for (const rt of selected) {
      checks.push({ name: `uncontended: ${LABEL[rt]} / C`, of: `un_${rt}`, over: "un_c", ...info });
    }
    for (const rt of selected) {
      checks.push(
        { name: `copy in: ${LABEL[rt]} / C memcpy`, of: `in_${rt}`, over: "in_c", ...atLeast(0.8) },
        {
          name: `copy out: ${LABEL[rt]} / C memcpy`,
          of: `out_${rt}`,
          over: "out_c",
          ...atLeast(0.8),
        },
      );
    }
    for (const rt of selected) {
      checks.push({
        name: `read(): ${LABEL[rt]} / C malloc+memcpy`,
        of: `read_${rt}`,
        over: "fresh_c",
        ...info,
      });
    }
    return checks;
  },
});
