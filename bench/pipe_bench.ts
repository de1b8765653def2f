/**
 * Pipe benchmark: sysipc's `PipeEnd` on Deno, Node and Bun, against C and
 * against `Deno.Command`.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts --runtimes deno,node
 * ```
 *
 * (also `deno task bench`). Options: `--quick` (smaller sizes, for a smoke
 * run), `--json PATH` (write every sample and ratio as JSON), `--reps N`
 * (repetitions per row, default 3, minimum 3), `--bytes N` (bytes per
 * throughput run), `--rounds N` (most timed round trips per ping-pong run;
 * `--max-ms` caps the time), `--warmup N` / `--warmup-ms MS` (untimed
 * rounds first; the JavaScript roles also warm up for at least MS after the
 * peer answered), `--runtimes deno,node,bun` (which runtimes get rows;
 * default all), `--pinnings "0,1 0 0|1"` (which tables; see below),
 * `--node PATH` / `--bun PATH` (the executables; default from PATH, then
 * `tools/node_modules/.bin`), `--node-lib PATH` (a built npm package's
 * `esm/mod.js` for Node; default a private build, see `bench/_runtimes.ts`).
 * A runtime that is not installed gives rows that say "skipped: …".
 *
 * It compiles `bench/pipe_writer.c`, `pipe_reader.c` and `pipe_pingpong.c`
 * with `cc -O2` into `bench/bin/` (gitignored), then measures, in one run:
 *
 * 1. 64 KiB-chunk throughput (GB/s, first read → EOF, so start-up is not
 *    counted): C writer → C reader; C writer → our `PipeEnd.read()` (the
 *    runtime reads a child's stdout through `pipe()` + `spawn()`); the same
 *    through our BYOB `readable` stream; our `PipeEnd.write()` → C reader;
 *    `readSync()`/`writeSync()` in place of `read()`/`write()` (they block
 *    the thread, as the C reader and writer do); and a C writer's stdout
 *    read through `Deno.Command(…).spawn().stdout`.
 * 2. 64-byte round trips (µs): C ↔ C over two pipes (fork); X ↔ X over our
 *    pipes (a child of the same runtime started with our `spawn()`, fds 3
 *    and 4); X ↔ C echo. Both JavaScript sides first park once on the
 *    shared waiter (so the off-thread worker's one-time start — ~50 ms for
 *    a Node Worker loading koffi — is not timed) and warm up for ≥ 500 ms:
 *    Node and Bun take 15 000–30 000 rounds to reach their steady state.
 *
 * The measuring side is `bench/roles/pipe_roles.mjs`, one plain-JavaScript
 * file that every runtime runs; under the `0|1` pinning the peer it starts
 * (C writer or reader, echo peer) gets CPU 1. `bench/_harness.ts` runs the
 * rows — pinned, round-robin, ≥ 3 times, medians with the spread, one table
 * per pinning. Node and Bun are compared with Deno in the same run: the
 * target is each within 1.5× of Deno's time for 64 KiB throughput.
 *
 * @module
 */
import {
  bin,
  type Check,
  type Config,
  describeRoundTrips,
  int,
  LABEL,
  main,
  microsPer,
  readProc,
  roundTripArgs,
  type Row,
} from "./_harness.ts";

const ROLES = new URL("./roles/pipe_roles.mjs", import.meta.url).pathname;
const CHUNK = 65536;
const MSG = 64;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

interface Own {
  /** Bytes per throughput run. */
  bytes: number;
  chunk: number;
  messageBytes: number;
}

type C = Config<Own>;

/** GB/s from a throughput role's `{ bytes, timedBytes, ns }` (bytes per ns). */
function rate(r: unknown, c: C): number {
  const { bytes, timedBytes, ns } = r as { bytes: number; timedBytes: number; ns: number };
  if (bytes !== c.bytes) throw new Error(`moved ${bytes} bytes, expected ${c.bytes}`);
  return timedBytes / ns;
}

const throughput = { unit: "GB/s", sample: rate };
const roundtrip = { unit: "µs", sample: microsPer("rounds") };
const info = { target: "(info)" };
const atLeast = (x: number) => ({ target: `≥ ${x}`, ok: (v: number) => v >= x });
const atMost = (x: number) => ({ target: `≤ ${x}`, ok: (v: number) => v <= x });

await main<Own>({
  name: "pipe",
  url: import.meta.url,
  runtimes: true,
  roundTrips: true,
  reps: [3, 3],
  timeoutMs: [60_000, 30_000],
  options: ["bytes"],
  config: (v, quick) => ({
    bytes: int(v.bytes, quick ? 256 * MiB : 2 * GiB),
    chunk: CHUNK,
    messageBytes: MSG,
  }),
  peers: ["pipe_writer", "pipe_reader", "pipe_pingpong"],
  facts: async () => ({
    facts: { pipeMaxSize: (await readProc("/proc/sys/fs/pipe-max-size")).trim() },
    header: [`chunk ${CHUNK} B`],
  }),
  describe: (c) =>
    `throughput: ${(c.bytes / MiB).toFixed(0)} MiB per run in ${CHUNK / 1024} KiB chunks; ` +
    `round trip: ${MSG} B, ${describeRoundTrips(c)}; median of ${c.reps} runs; ` +
    `spread = (max − min) / median`,

  rows: ({ selected, each, role }) => {
    const bytes = (c: C) => ["--bytes", String(c.bytes)];
    const denoCommand: Row<C> = {
      id: "c_to_command",
      label: "C writer → Deno.Command stdout",
      ...throughput,
      runtime: "deno",
      argv: (c, pin) => role("deno", ROLES, pin, ["command-read", ...bytes(c)]),
    };
    return [
      {
        id: "c_to_c",
        label: "C writer → C reader",
        ...throughput,
        argv: (c, pin) => [
          "sh",
          "-c",
          `${pin.peerCpus === undefined ? "" : `taskset -c ${pin.peerCpus} `}'${
            bin("pipe_writer")
          }' ${c.bytes} ${CHUNK} | '${bin("pipe_reader")}' ${CHUNK}`,
        ],
      },
      ...each((rt, L) => ({
        id: `c_to_${rt}`,
        label: `C writer → ${L} PipeEnd.read`,
        ...throughput,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["our-read", ...bytes(c)]),
      })),
      ...each((rt, L) => ({
        id: `c_to_${rt}_sync`,
        label: `C writer → ${L} PipeEnd.readSync`,
        ...throughput,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["our-read-sync", ...bytes(c)]),
      })),
      ...each((rt, L) => ({
        id: `c_to_${rt}_stream`,
        label: `C writer → ${L} readable (BYOB)`,
        ...throughput,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["our-stream", ...bytes(c)]),
      })),
      ...each((rt, L) => ({
        id: `${rt}_to_c`,
        label: `${L} PipeEnd.write → C reader`,
        ...throughput,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["our-write", ...bytes(c)]),
      })),
      ...each((rt, L) => ({
        id: `${rt}_to_c_sync`,
        label: `${L} PipeEnd.writeSync → C reader`,
        ...throughput,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["our-write-sync", ...bytes(c)]),
      })),
      ...(selected.includes("deno") ? [denoCommand] : []),
      {
        id: "rt_c_c",
        label: "C ↔ C (fork, two pipes)",
        ...roundtrip,
        argv: (c, pin) => [
          bin("pipe_pingpong"),
          "self",
          String(c.rounds),
          String(MSG),
          String(c.warmup),
          String(c.maxMs),
          pin.peerCpus ?? "-1",
        ],
      },
      ...each((rt, L) => ({
        id: `rt_${rt}_${rt}`,
        label: `${L} ↔ ${L} (our pipes, spawn fds 3/4)`,
        ...roundtrip,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["ping", "--peer", "self", ...roundTripArgs(c)]),
      })),
      ...each((rt, L) => ({
        id: `rt_${rt}_c`,
        label: `${L} ↔ C echo (our pipes)`,
        ...roundtrip,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["ping", "--peer", "c", ...roundTripArgs(c)]),
      })),
    ];
  },

  checksTitle: "ratio",
  checks: (selected) => {
    const others = selected.filter((rt) => rt !== "deno").map((rt) => ({ rt, L: LABEL[rt] }));
    const checks: Check[] = [];
    if (selected.includes("deno")) {
      checks.push(
        { name: "read: Deno / C→C", of: "c_to_deno", over: "c_to_c", ...atLeast(0.9) },
        {
          name: "read stream: Deno / C→C",
          of: "c_to_deno_stream",
          over: "c_to_c",
          ...atLeast(0.9),
        },
        { name: "write: Deno / C→C", of: "deno_to_c", over: "c_to_c", ...atLeast(0.9) },
        {
          name: "read: Deno / Deno.Command",
          of: "c_to_deno",
          over: "c_to_command",
          ...atLeast(1.2),
        },
        {
          name: "read stream: Deno / Deno.Command",
          of: "c_to_deno_stream",
          over: "c_to_command",
          ...atLeast(1.2),
        },
        { name: "round trip: Deno↔Deno / C↔C", of: "rt_deno_deno", over: "rt_c_c", ...atMost(2) },
        { name: "round trip: Deno↔C / C↔C", of: "rt_deno_c", over: "rt_c_c", ...atMost(2) },
      );
      // Node and Bun against Deno, as time ratios: > 1 means slower than Deno.
      // For throughput that is Deno's GB/s over theirs.
      for (const { rt, L } of others) {
        checks.push(
          { name: `read: ${L} time × Deno's`, of: "c_to_deno", over: `c_to_${rt}`, ...atMost(1.5) },
          {
            name: `write: ${L} time × Deno's`,
            of: "deno_to_c",
            over: `${rt}_to_c`,
            ...atMost(1.5),
          },
          {
            name: `read stream: ${L} time × Deno's`,
            of: "c_to_deno_stream",
            over: `c_to_${rt}_stream`,
            ...info,
          },
          {
            name: `round trip: ${L}↔${L} / Deno↔Deno`,
            of: `rt_${rt}_${rt}`,
            over: "rt_deno_deno",
            ...info,
          },
          { name: `round trip: ${L}↔C / Deno↔C`, of: `rt_${rt}_c`, over: "rt_deno_c", ...info },
        );
      }
    }
    for (const { rt, L } of others) {
      checks.push(
        { name: `read: ${L} / C→C`, of: `c_to_${rt}`, over: "c_to_c", ...info },
        { name: `write: ${L} / C→C`, of: `${rt}_to_c`, over: "c_to_c", ...info },
      );
    }
    // The calls that block the thread, as C's do.
    for (const rt of selected) {
      const L = LABEL[rt];
      checks.push(
        { name: `readSync: ${L} / C→C`, of: `c_to_${rt}_sync`, over: "c_to_c", ...info },
        { name: `writeSync: ${L} / C→C`, of: `${rt}_to_c_sync`, over: "c_to_c", ...info },
      );
    }
    return checks;
  },
});
