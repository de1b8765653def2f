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
 * (gitignored). Every row runs as its own process under the same
 * `taskset -c CPUS setsid` (a re-run of this file with `--role …`, or the C
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
import { parseArgs } from "node:util";
import { bin, compileC, fmt, killAll, machineInfo, median, runPinned } from "./_runner.ts";
import { SharedMemory } from "../sysv/mod.ts";

const SELF = new URL(import.meta.url).pathname;
const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
const COMMAND = `deno run ${PERMS.join(" ")} bench/shm_bench.ts`;
const MiB = 1024 ** 2;
const memcpyBin = bin("shm_memcpy");

// ---------------------------------------------------------------------------
// Roles: this file re-run inside a pinned process, printing one JSON line.
// ---------------------------------------------------------------------------

type Op = "set-in" | "write-in" | "set-out" | "slice-out" | "read-out";

interface Sample {
  bytes: number;
  iters: number;
  ns: number;
  check: number;
}

function roleOurs(op: Op, bytes: number, iters: number): Sample {
  using shm = SharedMemory.create({ size: bytes });
  shm.remove(); // destroyed when this process detaches or exits
  const src = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) src[i] = (i * 131 + 7) & 0xff;
  const dst = new Uint8Array(bytes);
  const seg = shm.bytes;
  seg.set(src); // warm-up: fault in every page of both
  dst.set(seg);
  let out: Uint8Array = dst;
  const t0 = performance.now();
  for (let k = 0; k < iters; k++) {
    switch (op) {
      case "set-in":
        seg.set(src);
        break;
      case "write-in":
        shm.write(src);
        break;
      case "set-out":
        dst.set(seg);
        break;
      case "slice-out":
        out = seg.slice();
        break;
      case "read-out":
        out = shm.read();
        break;
    }
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  const probe = op.endsWith("-in") ? seg : out;
  let check = 0;
  for (let i = 0; i < bytes; i += 4096) check += probe[i];
  return { bytes, iters, ns, check };
}

// ---------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------

interface RowDef {
  id: string;
  label: string;
  argv: (c: Config) => string[];
}

interface Config {
  bytes: number;
  iters: number;
  reps: number;
  cpus: string;
  timeoutMs: number;
}

interface RowResult {
  id: string;
  label: string;
  samples: number[];
  median: number | null;
  errors: string[];
}

interface Ratio {
  name: string;
  value: number | null;
}

const ours = (op: Op) => (c: Config) => [
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
];
const cRow = (dir: "in" | "out" | "out-fresh") => (c: Config) => [
  memcpyBin,
  String(c.bytes),
  String(c.iters),
  dir,
];

const ROWS: RowDef[] = [
  { id: "c_in", label: "C memcpy heap → segment", argv: cRow("in") },
  { id: "set_in", label: "ours: shm.bytes.set(src)", argv: ours("set-in") },
  { id: "write_in", label: "ours: shm.write(src)", argv: ours("write-in") },
  { id: "c_out", label: "C memcpy segment → heap", argv: cRow("out") },
  { id: "set_out", label: "ours: dst.set(shm.bytes)", argv: ours("set-out") },
  { id: "c_out_fresh", label: "C malloc + memcpy segment → new", argv: cRow("out-fresh") },
  { id: "slice_out", label: "ours: shm.bytes.slice() (allocates)", argv: ours("slice-out") },
  { id: "read_out", label: "ours: shm.read() (allocates)", argv: ours("read-out") },
];

const RATIOS: [string, string, string][] = [
  ["in: bytes.set / memcpy", "set_in", "c_in"],
  ["in: write() / memcpy", "write_in", "c_in"],
  ["out: dst.set(bytes) / memcpy", "set_out", "c_out"],
  ["out: bytes.slice() / memcpy", "slice_out", "c_out"],
  ["out: read() / memcpy", "read_out", "c_out"],
  ["out: bytes.slice() / malloc+memcpy", "slice_out", "c_out_fresh"],
  ["out: read() / malloc+memcpy", "read_out", "c_out_fresh"],
];

async function runOnce(c: Config, argv: string[]): Promise<Sample> {
  const s = await runPinned(c.cpus, argv, c.timeoutMs) as Sample;
  if (s.bytes !== c.bytes || s.iters !== c.iters || !(s.ns > 0)) {
    throw new Error(`bad result ${JSON.stringify(s)}`);
  }
  return s;
}

async function measure(c: Config, log: (s: string) => void) {
  const rows: RowResult[] = ROWS.map((d) => ({
    id: d.id,
    label: d.label,
    samples: [],
    median: null,
    errors: [],
  }));
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of ROWS.entries()) {
      try {
        const s = await runOnce(c, def.argv(c));
        const gbs = (s.bytes * s.iters) / s.ns; // bytes per ns = GB/s
        rows[i].samples.push(gbs);
        log(`  rep ${rep + 1}/${c.reps} ${def.label}: ${fmt(gbs)} GB/s`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        rows[i].errors.push(msg);
        log(`  rep ${rep + 1}/${c.reps} ${def.label}: FAILED (${msg})`);
      }
    }
  }
  for (const r of rows) r.median = median(r.samples);
  const get = (id: string) => rows.find((r) => r.id === id)!.median;
  const ratios: Ratio[] = RATIOS.map(([name, a, b]) => {
    const x = get(a), y = get(b);
    return { name, value: x !== null && y !== null && y > 0 ? x / y : null };
  });
  return { rows, ratios };
}

function render(c: Config, rows: RowResult[], ratios: Ratio[]): string {
  const lines: string[] = [];
  lines.push(`\n## Pinning: taskset -c ${c.cpus} — every row`);
  lines.push(
    `   ${c.bytes / MiB} MiB per copy, ${c.iters} timed copies per run after one untimed ` +
      `copy each way; median of ${c.reps} runs`,
  );
  const w = Math.max(...rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${"GB/s".padStart(7)}  ${"vs C".padStart(5)}  samples`;
  lines.push(head);
  lines.push(`   ${"-".repeat(head.length - 3)}`);
  const base = (id: string) => rows.find((r) => r.id === (id.endsWith("_in") ? "c_in" : "c_out"));
  for (const r of rows) {
    const b = base(r.id)?.median ?? null;
    const rel = r.median !== null && b ? r.median / b : null;
    const samples = r.samples.map((s) => fmt(s)).join(", ") +
      (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(7)}  ${fmt(rel).padStart(5)}  ${samples}`,
    );
  }
  lines.push("");
  const rw = Math.max(...ratios.map((r) => r.name.length)) + 2;
  lines.push(`   ${"ratio (ours / C)".padEnd(rw)}${"value".padStart(6)}`);
  lines.push(`   ${"-".repeat(rw + 6)}`);
  for (const r of ratios) lines.push(`   ${r.name.padEnd(rw)}${fmt(r.value).padStart(6)}`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      bytes: { type: "string" },
      mib: { type: "string" },
      iters: { type: "string" },
      reps: { type: "string" },
      cpus: { type: "string", default: "0" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
    },
    strict: true,
  });
  const int = (s: string | undefined, d: number) => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RangeError(`Expected a positive integer: ${s}`);
    }
    return n;
  };

  if (values.role !== undefined) {
    const ops: Op[] = ["set-in", "write-in", "set-out", "slice-out", "read-out"];
    if (!ops.includes(values.role as Op)) throw new Error(`Unknown role ${values.role}`);
    const r = roleOurs(values.role as Op, int(values.bytes, 64 * MiB), int(values.iters, 10));
    console.log(JSON.stringify(r));
    return 0;
  }

  const quick = values.quick!;
  const c: Config = {
    bytes: int(values.mib, quick ? 16 : 64) * MiB,
    iters: int(values.iters, 10),
    reps: Math.max(3, int(values.reps, quick ? 3 : 5)),
    cpus: values.cpus!,
    timeoutMs: 60_000,
  };
  const log = (s: string) => console.error(s);
  const onSignal = () => {
    killAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const started = performance.now();
    const env = await machineInfo();
    const command = COMMAND + Deno.args.map((a) => ` ${a}`).join("");
    console.log(`# sysipc shared-memory copy benchmark`);
    console.log(`command: ${command}`);
    console.log(`deno ${env.deno}, kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}`);
    await compileC(["shm_memcpy"]);
    log(`compiled bench/shm_memcpy.c with cc -O2 into bench/bin/`);
    const { rows, ratios } = await measure(c, log);
    console.log(render(c, rows, ratios));
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        command,
        date: new Date().toISOString(),
        env,
        config: c,
        rows,
        ratios,
        seconds,
      };
      await Deno.writeTextFile(values.json, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    return rows.some((r) => r.median === null) ? 1 : 0;
  } finally {
    killAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    Deno.exit(1);
  }
}
