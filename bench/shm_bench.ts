/**
 * Shared-memory copy benchmark: moving 64 MiB into and out of a System V
 * segment through sysipc's zero-copy views, against C `memcpy` of the same
 * size into and out of the same kind of segment.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/shm_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/shm_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/shm_bench.ts --json out.json
 * ```
 *
 * Options: `--mib N` (copy size, default 64), `--iters N` (timed copies per
 * run, default 10), `--reps N` (runs per row, default 5, minimum 3),
 * `--cpus LIST` (taskset CPU list, default `0`), `--quick` (16 MiB, 3 reps),
 * `--json PATH` (write every sample and ratio as JSON).
 *
 * It compiles `bench/shm_memcpy.c` with `cc -O2` into `bench/bin/`
 * (gitignored). `bench/_harness.ts` runs every row as its own process under
 * the same `taskset -c CPUS setsid` (a re-run of this file with `--role …`, or the C
 * helper), which creates an `IPC_PRIVATE` segment, marks it removed at once
 * (so it vanishes with the process, even if killed), copies once in each
 * direction untimed so every page of the segment and of the heap buffer is
 * faulted in, then times `--iters` copies. Rows run round-robin, `--reps`
 * times; the table shows the median GB/s (10⁹ bytes per second).
 *
 * Rows: C `memcpy` heap → segment and segment → heap; ours: `bytes.set(src)`
 * and `write(src)` into the segment; `dst.set(bytes)` (into a preallocated
 * buffer, what `memcpy` does), `bytes.slice()` and `read()` (each allocates
 * a fresh 64 MiB buffer, whose pages are then faulted in) out of it; and C
 * `malloc` + `memcpy` into a fresh buffer each time, the fair peer of the
 * allocating copies. The "vs C" column compares with the plain `memcpy` row
 * of the same direction.
 *
 * @module
 */
import { bin, type Config, copyRate, int, main, PERMS, type Row } from "./_harness.ts";
import { SharedMemory } from "../sysv/mod.ts";
import { COPIES, timeCopies } from "./roles/_role.mjs";

const SELF = new URL(import.meta.url).pathname;
const MiB = 1024 ** 2;

// ---------------------------------------------------------------------------
// Roles: this file re-run inside a pinned process, printing one JSON line.
// ---------------------------------------------------------------------------

type Op = "set-in" | "write-in" | "set-out" | "slice-out" | "read-out";

function roleOurs(op: Op, bytes: number, iters: number): unknown {
  using shm = SharedMemory.create({ size: bytes });
  shm.remove(); // destroyed when this process detaches or exits
  return timeCopies(shm, op, iters); // the same timing as every runtime's in roles/_role.mjs
}

// ---------------------------------------------------------------------------
// The rows: C peers first in each direction, ours compared with them.
// ---------------------------------------------------------------------------

interface Own {
  bytes: number;
  iters: number;
}
type C = Config<Own>;

const ours = (id: string, label: string, op: Op, vs: string): Row<C> => ({
  id,
  label,
  unit: "GB/s",
  sample: copyRate,
  vs,
  runtime: "deno",
  argv: (c) => [
    Deno.execPath(),
    "run",
    ...PERMS,
    SELF,
    "--role",
    op,
    "--bytes",
    String(c.bytes),
    "--iters",
    String(c.iters),
  ],
});
const memcpy = (
  id: string,
  label: string,
  dir: "in" | "out" | "out-fresh",
  vs: string,
): Row<C> => ({
  id,
  label,
  unit: "GB/s",
  sample: copyRate,
  vs,
  argv: (c) => [bin("shm_memcpy"), String(c.bytes), String(c.iters), dir],
});

const OPS = COPIES as Op[];

await main<Own>({
  name: "shared-memory copy",
  url: import.meta.url,
  reps: [5, 3],
  timeoutMs: [60_000, 60_000],
  options: ["mib", "iters", "bytes"],
  config: (v, quick) => ({
    bytes: int(v.mib, quick ? 16 : 64) * MiB,
    iters: int(v.iters, 10),
  }),
  role(name, v) {
    if (!OPS.includes(name as Op)) throw new Error(`Unknown role ${name}`);
    return roleOurs(name as Op, int(v.bytes, 64 * MiB), int(v.iters, 10));
  },
  peers: ["shm_memcpy"],
  describe: (c) =>
    `${c.bytes / MiB} MiB per copy, ${c.iters} timed copies per run after one untimed ` +
    `copy each way; median of ${c.reps} runs`,
  style: "peer",
  rows: () => [
    memcpy("c_in", "C memcpy heap → segment", "in", "c_in"),
    ours("set_in", "ours: shm.bytes.set(src)", "set-in", "c_in"),
    ours("write_in", "ours: shm.write(src)", "write-in", "c_in"),
    memcpy("c_out", "C memcpy segment → heap", "out", "c_out"),
    ours("set_out", "ours: dst.set(shm.bytes)", "set-out", "c_out"),
    memcpy("c_out_fresh", "C malloc + memcpy segment → new", "out-fresh", "c_out"),
    ours("slice_out", "ours: shm.bytes.slice() (allocates)", "slice-out", "c_out"),
    ours("read_out", "ours: shm.read() (allocates)", "read-out", "c_out"),
  ],
  checksTitle: "ratio (ours / C)",
  checks: () => [
    { name: "in: bytes.set / memcpy", of: "set_in", over: "c_in" },
    { name: "in: write() / memcpy", of: "write_in", over: "c_in" },
    { name: "out: dst.set(bytes) / memcpy", of: "set_out", over: "c_out" },
    { name: "out: bytes.slice() / memcpy", of: "slice_out", over: "c_out" },
    { name: "out: read() / memcpy", of: "read_out", over: "c_out" },
    { name: "out: bytes.slice() / malloc+memcpy", of: "slice_out", over: "c_out_fresh" },
    { name: "out: read() / malloc+memcpy", of: "read_out", over: "c_out_fresh" },
  ],
});
