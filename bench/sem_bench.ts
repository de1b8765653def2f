/**
 * Semaphore benchmark: sysipc's `SemaphoreSet` on Deno, Node and Bun, against
 * C doing the same semops.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --runtimes deno,bun
 * ```
 *
 * (also `deno task bench:sem`). Options: `--quick` (fewer rounds, for a
 * smoke run), `--json PATH` (write every sample and ratio as JSON), `--reps
 * N` (repetitions per row, default 5, minimum 3), `--rounds N` (most timed
 * round trips per ping-pong run; `--max-ms` caps the time), `--warmup N` /
 * `--warmup-ms MS` (untimed rounds first; the JavaScript roles also warm up
 * for at least MS after the peer answered), `--pairs N` (acquire+release
 * pairs per uncontended run), `--runtimes deno,node,bun` (which runtimes get
 * rows; default all), `--pinnings "0,1 0 0|1"` (which tables; see below),
 * `--node PATH` / `--bun PATH` (the executables; default from PATH, then
 * `tools/node_modules/.bin`), `--node-lib PATH` (a built npm package's
 * `esm/mod.js` for Node; default a private build, see `bench/_runtimes.ts`).
 * A runtime that is not installed gives rows that say "skipped: …".
 *
 * It compiles `bench/sem_pingpong.c` with `cc -O2` into `bench/bin/`
 * (gitignored), then measures, in one run:
 *
 * 1. Ping-pong round trips (µs) between two processes over two semaphores
 *    of an `IPC_PRIVATE` set: one side does V(0) then P(1), the other P(0)
 *    then V(1). C ↔ C (fork, blocking `semop`); X ↔ X (our `release()` /
 *    `await acquire()`, the peer a second process of the same runtime); X ↔
 *    C (our ping side, the C peer); and X ↔ X and X ↔ C again with
 *    `acquireSync()` (`--sync`), which blocks the thread as C does. Both JavaScript sides first park once
 *    off-thread (so the off-thread worker's one-time start — ~50 ms for a
 *    Node Worker loading koffi — is not timed) and warm up for ≥ 500 ms:
 *    Node and Bun take 15 000–30 000 rounds to reach their steady state.
 * 2. The uncontended pair (µs): `await sem.acquire(); sem.release();` in one
 *    process; the same with `tryAcquire()`; and C's `semop(-1, IPC_NOWAIT)`
 *    + `semop(+1, IPC_NOWAIT)`.
 *
 * The measuring side is `bench/roles/sem_roles.mjs`, one plain-JavaScript
 * file that every runtime runs; under the `0|1` pinning its peer (or C's
 * forked child) gets CPU 1. `bench/_harness.ts` runs the rows — pinned,
 * round-robin, ≥ 3 times, medians with the spread, one table per pinning.
 * Node and Bun are compared with Deno in the same run: the target is each
 * within 1.5× of Deno's round trip.
 *
 * @module
 */
import {
  type Check,
  describeRoundTrips,
  int,
  LABEL,
  main,
  readProc,
  semaphoreRows,
  syncRoundTripChecks,
} from "./_harness.ts";

const ROLES = new URL("./roles/sem_roles.mjs", import.meta.url).pathname;

interface Own {
  /** acquire+release pairs per uncontended run. */
  pairs: number;
}
const info = { target: "(info)" };
const atMost = (x: number, unit = "×") => ({ target: `≤ ${x}${unit}`, ok: (v: number) => v <= x });

await main<Own>({
  name: "semaphore",
  url: import.meta.url,
  runtimes: true,
  roundTrips: true,
  reps: [5, 5],
  timeoutMs: [60_000, 30_000],
  options: ["pairs"],
  config: (v, quick) => ({ pairs: int(v.pairs, quick ? 200_000 : 1_000_000) }),
  peers: ["sem_pingpong"],
  facts: async () => ({
    facts: { sem: (await readProc("/proc/sys/kernel/sem")).trim().split(/\s+/).join(" ") },
  }),
  describe: (c) =>
    `round trip: ${describeRoundTrips(c)}; uncontended: ${c.pairs} pairs; ` +
    `median of ${c.reps} runs; spread = (max − min) / median`,

  rows: (ctx) =>
    semaphoreRows(ctx, ROLES, "sem_pingpong", {
      roundTrip: "C ↔ C (fork, blocking semop)",
      pair: "C: semop −1, +1 (IPC_NOWAIT)",
    }),

  checksTitle: "measure",
  checks: (selected) => {
    const others = selected.filter((rt) => rt !== "deno");
    const checks: Check[] = [];
    if (selected.includes("deno")) {
      checks.push(
        { name: "round trip: Deno↔Deno / C↔C", of: "rt_deno_deno", over: "rt_c_c", ...atMost(1.5) },
        { name: "round trip: Deno↔C / C↔C", of: "rt_deno_c", over: "rt_c_c", ...atMost(1.5) },
      );
      for (const rt of others) {
        const L = LABEL[rt];
        checks.push(
          {
            name: `round trip: ${L}↔${L} / Deno↔Deno`,
            of: `rt_${rt}_${rt}`,
            over: "rt_deno_deno",
            ...atMost(1.5),
          },
          {
            name: `round trip: ${L}↔C / Deno↔C`,
            of: `rt_${rt}_c`,
            over: "rt_deno_c",
            ...atMost(1.5),
          },
        );
      }
    }
    checks.push(...syncRoundTripChecks(selected));
    for (const rt of selected) {
      checks.push({
        name: `${LABEL[rt]}: uncontended acquire+release (µs)`,
        of: `un_${rt}`,
        ...atMost(2, " µs"),
      });
    }
    for (const rt of selected) {
      checks.push({ name: `uncontended: ${LABEL[rt]} / C`, of: `un_${rt}`, over: "un_c", ...info });
    }
    if (selected.includes("deno")) {
      for (const rt of others) {
        checks.push({
          name: `uncontended: ${LABEL[rt]} / Deno`,
          of: `un_${rt}`,
          over: "un_deno",
          ...info,
        });
      }
    }
    return checks;
  },
});
