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
 *    and a C writer's stdout read through `Deno.Command(…).spawn().stdout`.
 * 2. 64-byte round trips (µs): C ↔ C over two pipes (fork); X ↔ X over our
 *    pipes (a child of the same runtime started with our `spawn()`, fds 3
 *    and 4); X ↔ C echo. Both JavaScript sides first park once on the
 *    shared waiter (so the off-thread worker's one-time start — ~50 ms for
 *    a Node Worker loading koffi — is not timed) and warm up for ≥ 500 ms:
 *    Node and Bun take 15 000–30 000 rounds to reach their steady state.
 *
 * The measuring side is `bench/roles/pipe_roles.mjs`, one plain-JavaScript
 * file that every runtime runs. Every row runs as its own process tree, once
 * per pinning (`--pinnings`, default all three, one table each): `0,1` —
 * `taskset -c 0,1` for the role process and every peer it starts; `0` —
 * `taskset -c 0` for all of them; `0|1` — the role process on CPU 0, the
 * peer it starts (C writer or reader, echo peer) on CPU 1, so that the two
 * sides are on different CPUs in every run (under `0,1` the scheduler
 * decides, run by run, and the two placements differ by 2–3×). Each tree is
 * its own session (`setsid`), killed as a whole on a timeout. Each row is
 * repeated (≥ 3 times, round-robin across rows) and the median is reported
 * with the spread. Node and Bun are compared with Deno in
 * the same run: the target is each within 1.5× of Deno's time for 64 KiB
 * throughput.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  bin,
  compileC,
  fmt,
  killAll,
  machineInfo,
  median,
  readProc,
  renderRows,
  renderVerdicts,
  runPinned,
} from "./_runner.ts";
import {
  LABEL,
  parsePinnings,
  parseRuntimes,
  PERMS,
  type Pinning,
  prepareRuntimes,
  type Runtime,
  type RuntimeName,
} from "./_runtimes.ts";

const HERE = new URL(".", import.meta.url);
const ROLES = new URL("./roles/pipe_roles.mjs", HERE).pathname;
const COMMAND = `deno run ${PERMS.join(" ")} bench/pipe_bench.ts`;
const CHUNK = 65536;
const MSG = 64;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

interface Rate {
  bytes: number;
  timedBytes: number;
  ns: number;
}
interface Trip {
  rounds: number;
  ns: number;
}

type Kind = "throughput" | "roundtrip";

interface RowDef {
  id: string;
  label: string;
  kind: Kind;
  /** The runtime the row needs (C-only rows need none). */
  runtime?: RuntimeName;
  /** argv after `taskset -c CPUS setsid`. */
  argv: (c: Config, pin: Pinning) => string[];
}

interface Config {
  bytes: number;
  rounds: number;
  warmup: number;
  warmupMs: number;
  maxMs: number;
  reps: number;
  timeoutMs: number;
}

interface RowResult {
  id: string;
  label: string;
  kind: Kind;
  unit: "GB/s" | "µs";
  samples: number[];
  median: number | null;
  /** (max − min) / median of the samples. */
  spread: number | null;
  errors: string[];
  skipped?: string;
}

interface Ratio {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | null;
}

interface Table {
  cpus: string;
  pinning: string;
  rows: RowResult[];
  ratios: Ratio[];
}

/** The rows, in table order, for the selected runtimes. */
function rowDefs(rts: Record<RuntimeName, Runtime>, selected: RuntimeName[]): RowDef[] {
  const role = (rt: RuntimeName, pin: Pinning, ...args: string[]) => {
    const r = rts[rt];
    if (!r.ok) throw new Error(r.skipped);
    const peer = pin.peerCpus === undefined ? [] : ["--peer-cpus", pin.peerCpus];
    return r.argv(ROLES, ["--lib", r.lib, ...args, ...peer]);
  };
  const bytes = (c: Config) => ["--bytes", String(c.bytes)];
  const ping = (peer: string, c: Config) => [
    "--peer",
    peer,
    "--rounds",
    String(c.rounds),
    "--warmup",
    String(c.warmup),
    "--warmup-ms",
    String(c.warmupMs),
    "--max-ms",
    String(c.maxMs),
  ];
  const each = (f: (rt: RuntimeName, L: string) => RowDef) =>
    selected.map((rt) => f(rt, LABEL[rt]));
  return [
    {
      id: "c_to_c",
      label: "C writer → C reader",
      kind: "throughput",
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
      kind: "throughput",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "our-read", ...bytes(c)),
    })),
    ...each((rt, L) => ({
      id: `c_to_${rt}_stream`,
      label: `C writer → ${L} readable (BYOB)`,
      kind: "throughput",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "our-stream", ...bytes(c)),
    })),
    ...each((rt, L) => ({
      id: `${rt}_to_c`,
      label: `${L} PipeEnd.write → C reader`,
      kind: "throughput",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "our-write", ...bytes(c)),
    })),
    ...(selected.includes("deno")
      ? [{
        id: "c_to_command",
        label: "C writer → Deno.Command stdout",
        kind: "throughput" as const,
        runtime: "deno" as const,
        argv: (c: Config, pin: Pinning) => role("deno", pin, "command-read", ...bytes(c)),
      }]
      : []),
    {
      id: "rt_c_c",
      label: "C ↔ C (fork, two pipes)",
      kind: "roundtrip",
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
      kind: "roundtrip",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "ping", ...ping("self", c)),
    })),
    ...each((rt, L) => ({
      id: `rt_${rt}_c`,
      label: `${L} ↔ C echo (our pipes)`,
      kind: "roundtrip",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "ping", ...ping("c", c)),
    })),
  ];
}

function toSample(def: RowDef, c: Config, r: unknown): number {
  if (def.kind === "throughput") {
    const { bytes, timedBytes, ns } = r as Rate;
    if (bytes !== c.bytes) throw new Error(`moved ${bytes} bytes, expected ${c.bytes}`);
    return timedBytes / ns; // bytes per ns = GB/s
  }
  const { rounds, ns } = r as Trip;
  if (!(rounds > 0)) throw new Error("no round trips");
  return ns / rounds / 1000;
}

async function measureTable(
  pin: Pinning,
  c: Config,
  defs: RowDef[],
  rts: Record<RuntimeName, Runtime>,
  selected: RuntimeName[],
  log: (s: string) => void,
): Promise<Table> {
  const rows: RowResult[] = defs.map((d) => {
    const rt = d.runtime === undefined ? undefined : rts[d.runtime];
    return {
      id: d.id,
      label: d.label,
      kind: d.kind,
      unit: d.kind === "throughput" ? "GB/s" : "µs",
      samples: [],
      median: null,
      spread: null,
      errors: [],
      skipped: rt && !rt.ok ? rt.skipped : undefined,
    };
  });
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of defs.entries()) {
      const row = rows[i];
      if (row.skipped) continue;
      try {
        const v = toSample(def, c, await runPinned(pin.cpus, def.argv(c, pin), c.timeoutMs));
        row.samples.push(v);
        log(`  [${pin.id}] rep ${rep + 1}/${c.reps} ${def.label}: ${fmt(v)} ${row.unit}`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.errors.push(msg);
        log(`  [${pin.id}] rep ${rep + 1}/${c.reps} ${def.label}: FAILED (${msg})`);
      }
    }
  }
  for (const row of rows) {
    row.median = median(row.samples);
    if (row.median !== null && row.median > 0) {
      row.spread = (Math.max(...row.samples) - Math.min(...row.samples)) / row.median;
    }
  }
  const get = (id: string) => rows.find((r) => r.id === id)?.median ?? null;
  const ratio = (
    name: string,
    a: string,
    b: string,
    target: string,
    ok: (x: number) => boolean,
  ): Ratio => {
    const x = get(a), y = get(b);
    const value = x !== null && y !== null && y > 0 ? x / y : null;
    return { name, value, target, pass: value === null ? null : ok(value) };
  };
  const info = () => true;
  const ratios: Ratio[] = [];
  if (selected.includes("deno")) {
    ratios.push(
      ratio("read: Deno / C→C", "c_to_deno", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
      ratio("read stream: Deno / C→C", "c_to_deno_stream", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
      ratio("write: Deno / C→C", "deno_to_c", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
      ratio("read: Deno / Deno.Command", "c_to_deno", "c_to_command", "≥ 1.2", (x) => x >= 1.2),
      ratio(
        "read stream: Deno / Deno.Command",
        "c_to_deno_stream",
        "c_to_command",
        "≥ 1.2",
        (x) => x >= 1.2,
      ),
      ratio("round trip: Deno↔Deno / C↔C", "rt_deno_deno", "rt_c_c", "≤ 2", (x) => x <= 2),
      ratio("round trip: Deno↔C / C↔C", "rt_deno_c", "rt_c_c", "≤ 2", (x) => x <= 2),
    );
    // Node and Bun against Deno, as time ratios: > 1 means slower than Deno.
    // For throughput that is Deno's GB/s over theirs.
    for (const rt of selected.filter((r) => r !== "deno")) {
      const L = LABEL[rt];
      const within = (x: number) => x <= 1.5;
      ratios.push(
        ratio(`read: ${L} time × Deno's`, "c_to_deno", `c_to_${rt}`, "≤ 1.5", within),
        ratio(`write: ${L} time × Deno's`, "deno_to_c", `${rt}_to_c`, "≤ 1.5", within),
        ratio(
          `read stream: ${L} time × Deno's`,
          "c_to_deno_stream",
          `c_to_${rt}_stream`,
          "(info)",
          info,
        ),
        ratio(
          `round trip: ${L}↔${L} / Deno↔Deno`,
          `rt_${rt}_${rt}`,
          "rt_deno_deno",
          "(info)",
          info,
        ),
        ratio(`round trip: ${L}↔C / Deno↔C`, `rt_${rt}_c`, "rt_deno_c", "(info)", info),
      );
    }
  }
  for (const rt of selected.filter((r) => r !== "deno")) {
    const L = LABEL[rt];
    ratios.push(
      ratio(`read: ${L} / C→C`, `c_to_${rt}`, "c_to_c", "(info)", info),
      ratio(`write: ${L} / C→C`, `${rt}_to_c`, "c_to_c", "(info)", info),
    );
  }
  return {
    cpus: pin.id,
    pinning: pin.title,
    rows,
    ratios,
  };
}

function renderTable(t: Table, c: Config): string {
  const lines: string[] = [];
  lines.push(`\n## Pinning ${t.cpus}: ${t.pinning}`);
  lines.push(
    `   throughput: ${(c.bytes / MiB).toFixed(0)} MiB per run in ${
      CHUNK / 1024
    } KiB chunks; round trip: ${MSG} B, up to ${c.rounds} timed rounds (≤ ${c.maxMs} ms) after ≥ ${c.warmup} warm-up rounds (JS: and ≥ ${c.warmupMs} ms); median of ${c.reps} runs; spread = (max − min) / median`,
  );
  lines.push(...renderRows(t.rows), "", ...renderVerdicts("ratio", t.ratios));
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      bytes: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      "warmup-ms": { type: "string" },
      "max-ms": { type: "string" },
      reps: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      runtimes: { type: "string" },
      pinnings: { type: "string" },
      node: { type: "string" },
      bun: { type: "string" },
      "node-lib": { type: "string" },
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

  const quick = values.quick!;
  const c: Config = {
    bytes: int(values.bytes, quick ? 256 * MiB : 2 * GiB),
    rounds: int(values.rounds, quick ? 20000 : 200000),
    warmup: int(values.warmup, quick ? 500 : 2000),
    warmupMs: int(values["warmup-ms"], quick ? 200 : 500),
    maxMs: int(values["max-ms"], quick ? 500 : 1500),
    reps: Math.max(3, int(values.reps, 3)),
    timeoutMs: quick ? 30_000 : 60_000,
  };
  const selected = parseRuntimes(values.runtimes);
  const pinnings = parsePinnings(values.pinnings);
  const log = (s: string) => console.error(s);
  const prepared = await prepareRuntimes({
    runtimes: selected,
    node: values.node,
    bun: values.bun,
    nodeLib: values["node-lib"],
  }, log);
  const onSignal = () => {
    killAll();
    prepared.cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const started = performance.now();
    const env = await machineInfo({
      pipeMaxSize: (await readProc("/proc/sys/fs/pipe-max-size")).trim(),
    });
    const rts = prepared.runtimes;
    const versions = selected.map((r) => {
      const rt = rts[r];
      return rt.ok ? rt.version : `${r}: ${rt.skipped}`;
    });
    const args = Deno.args.join(" ");
    console.log(`# sysipc pipe benchmark`);
    console.log(`command: ${COMMAND}${args ? ` ${args}` : ""}`);
    console.log(
      `kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}; chunk ${CHUNK} B; ${
        versions.join("; ")
      }`,
    );
    await compileC(["pipe_writer", "pipe_reader", "pipe_pingpong"]);
    log(`compiled C helpers with cc -O2 into bench/bin/`);
    const defs = rowDefs(rts, selected);
    const tables: Table[] = [];
    for (const pin of pinnings) {
      log(`measuring with pinning ${pin.id} …`);
      const t = await measureTable(pin, c, defs, rts, selected, log);
      tables.push(t);
      console.log(renderTable(t, c));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        command: `${COMMAND}${args ? ` ${args}` : ""}`,
        date: new Date().toISOString(),
        env: { ...env, runtimes: versions },
        config: { ...c, chunk: CHUNK, messageBytes: MSG },
        tables,
        seconds,
      };
      await Deno.writeTextFile(values.json, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    return 0;
  } finally {
    killAll();
    prepared.cleanup();
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
