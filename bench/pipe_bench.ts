/**
 * Pipe benchmark: sysipc's `PipeEnd` against C and against `Deno.Command`.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/pipe_bench.ts --json out.json
 * ```
 *
 * (also `deno task bench`). Options: `--quick` (smaller sizes, for a smoke
 * run), `--json PATH` (write every sample and ratio as JSON), `--reps N`
 * (repetitions per row, default 3, minimum 3), `--bytes N` (bytes per
 * throughput run), `--rounds N` (timed round trips per ping-pong run).
 *
 * It compiles `bench/pipe_writer.c`, `pipe_reader.c` and `pipe_pingpong.c`
 * with `cc -O2` into `bench/bin/` (gitignored), then measures, in one run:
 *
 * 1. 64 KiB-chunk throughput (GB/s, first read → EOF, so start-up is not
 *    counted): C writer → C reader; C writer → our `PipeEnd.read()` (parent
 *    reads a child's stdout through `pipe()` + `spawn()`); the same through
 *    our BYOB `readable` stream; our `PipeEnd.write()` → C reader; and a C
 *    writer's stdout read through `Deno.Command(…).spawn().stdout`.
 * 2. 64-byte round trips (µs): C ↔ C over two pipes (fork); Deno ↔ Deno over
 *    our pipes (a Deno child started with our `spawn()`, fds 3 and 4); Deno ↔
 *    C echo.
 *
 * Every row runs as its own process tree under `taskset -c 0,1` (first table)
 * and again under `taskset -c 0` (second table): the Deno process that does
 * the measuring (`--role …`, a re-run of this file) and every peer it starts
 * inherit that CPU mask, and each tree is its own session (`setsid`) so that
 * it is killed as a whole on a timeout. Each row is repeated (≥ 3 times,
 * round-robin across rows) and the median is reported.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { pipe, PipeEnd, spawn } from "../pipe/mod.ts";

const HERE = new URL(".", import.meta.url);
const BIN = new URL("./bin/", HERE);
const SELF = new URL(import.meta.url).pathname;
const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
const COMMAND = `deno run ${PERMS.join(" ")} bench/pipe_bench.ts`;
const CHUNK = 65536;
const MSG = 64;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const bin = (name: string) => new URL(name, BIN).pathname;

// ---------------------------------------------------------------------------
// Roles: this file re-run inside a pinned process tree, printing one JSON line.
// ---------------------------------------------------------------------------

interface Rate {
  bytes: number;
  timedBytes: number;
  ns: number;
}
interface Trip {
  rounds: number;
  ns: number;
}

/** Parent reads a C writer's stdout through our pipe with `PipeEnd.read()`. */
async function roleOurRead(bytes: number): Promise<Rate> {
  const p = pipe();
  const child = spawn(bin("pipe_writer"), {
    args: [String(bytes), String(CHUNK)],
    stdout: p.writeEnd,
  });
  p.writeEnd.close();
  const r = p.readEnd;
  const buf = new Uint8Array(CHUNK);
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const n = await r.read(buf);
    if (n === null) break;
    if (total === 0) {
      t0 = performance.now();
      first = n;
    }
    total += n;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  r.close();
  await mustSucceed(child.status, "pipe_writer");
  return { bytes: total, timedBytes: total - first, ns };
}

/** Same, through our byte `ReadableStream` with a BYOB reader and one reused buffer. */
async function roleOurStream(bytes: number): Promise<Rate> {
  const p = pipe();
  const child = spawn(bin("pipe_writer"), {
    args: [String(bytes), String(CHUNK)],
    stdout: p.writeEnd,
  });
  p.writeEnd.close();
  const reader = p.readEnd.readable.getReader({ mode: "byob" });
  let buf = new Uint8Array(CHUNK);
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const { value, done } = await reader.read(buf);
    if (done) break;
    const n = value.byteLength;
    if (total === 0) {
      t0 = performance.now();
      first = n;
    }
    total += n;
    buf = new Uint8Array(value.buffer); // the transferred buffer, full size again
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  await mustSucceed(child.status, "pipe_writer");
  return { bytes: total, timedBytes: total - first, ns };
}

/** Our `PipeEnd.write()` feeds a C reader (its stdin); the C reader does the timing. */
async function roleOurWrite(bytes: number): Promise<Rate> {
  const p = pipe();
  // The reader's stdin is our pipe; it reports through a second pipe.
  const report = pipe();
  const child = spawn(bin("pipe_reader"), {
    args: [String(CHUNK)],
    stdin: p.readEnd,
    stdout: report.writeEnd,
  });
  p.readEnd.close();
  report.writeEnd.close();
  const w = p.writeEnd;
  const buf = new Uint8Array(CHUNK).fill(120);
  for (let left = bytes; left > 0; left -= CHUNK) {
    await w.write(left >= CHUNK ? buf : buf.subarray(0, left));
  }
  w.close();
  const text = await readAll(report.readEnd);
  await mustSucceed(child.status, "pipe_reader");
  return JSON.parse(text) as Rate;
}

/** A C writer's stdout read through `Deno.Command(…).spawn().stdout` (default reader). */
async function roleCommandRead(bytes: number): Promise<Rate> {
  const child = new Deno.Command(bin("pipe_writer"), {
    args: [String(bytes), String(CHUNK)],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let total = 0, first = 0, t0 = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (total === 0) {
      t0 = performance.now();
      first = value.byteLength;
    }
    total += value.byteLength;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  const st = await child.status;
  if (!st.success) throw new Error(`pipe_writer failed: code ${st.code}`);
  return { bytes: total, timedBytes: total - first, ns };
}

/** Ping side in Deno over our pipes; the peer is a Deno child (`--role pong`) or C. */
async function rolePing(
  peer: string,
  rounds: number,
  warmup: number,
  maxMs: number,
): Promise<Trip> {
  const to = pipe();
  const from = pipe();
  const fds = { 3: to.readEnd, 4: from.writeEnd };
  const child = peer === "deno"
    ? spawn(Deno.execPath(), {
      args: ["run", ...PERMS, SELF, "--role", "pong"],
      fds,
    })
    : spawn(bin("pipe_pingpong"), { args: ["pong", "3", "4", String(MSG)], fds });
  to.readEnd.close();
  from.writeEnd.close();
  const w = to.writeEnd, r = from.readEnd;
  const msg = new Uint8Array(MSG), back = new Uint8Array(MSG);
  const once = async () => {
    await w.write(msg);
    let got = 0;
    while (got < MSG) {
      const n = await r.read(got === 0 ? back : back.subarray(got));
      if (n === null) throw new Error("The echo peer closed early");
      got += n;
    }
  };
  for (let i = 0; i < warmup; i++) await once(); // includes the peer's start-up
  const t0 = performance.now();
  let done = 0;
  while (done < rounds) {
    await once();
    done++;
    if ((done & 127) === 0 && performance.now() - t0 > maxMs) break;
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  w.close();
  await mustSucceed(child.status, `${peer} echo peer`);
  r.close();
  return { rounds: done, ns };
}

/** Echo side in Deno: 64-byte messages from fd 3 back to fd 4 until EOF. */
async function rolePong(): Promise<void> {
  using inp = PipeEnd.fromFd(3);
  using out = PipeEnd.fromFd(4);
  const buf = new Uint8Array(MSG);
  for (;;) {
    let got = 0;
    while (got < MSG) {
      const n = await inp.read(got === 0 ? buf : buf.subarray(got));
      if (n === null) {
        if (got === 0) return;
        throw new Error("Torn message at end of file");
      }
      got += n;
    }
    await out.write(buf);
  }
}

async function mustSucceed(status: Promise<{ success: boolean; code: number }>, what: string) {
  const st = await status;
  if (!st.success) throw new Error(`${what} failed: code ${st.code}`);
}

async function readAll(end: PipeEnd): Promise<string> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const buf = new Uint8Array(4096);
    const n = await end.read(buf);
    if (n === null) break;
    parts.push(buf.subarray(0, n));
  }
  end.close();
  const dec = new TextDecoder();
  return parts.map((b, i) => dec.decode(b, { stream: i < parts.length - 1 })).join("");
}

// ---------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------

type Kind = "throughput" | "roundtrip";

interface RowDef {
  id: string;
  label: string;
  kind: Kind;
  /** argv after `taskset -c CPUS setsid`. */
  argv: (c: Config) => string[];
}

interface Config {
  bytes: number;
  rounds: number;
  warmup: number;
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
  errors: string[];
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

const denoRole = (role: string, ...rest: string[]) => [
  Deno.execPath(),
  "run",
  ...PERMS,
  SELF,
  "--role",
  role,
  ...rest,
];

const ROWS: RowDef[] = [
  {
    id: "c_to_c",
    label: "C writer → C reader",
    kind: "throughput",
    argv: (c) => [
      "sh",
      "-c",
      `'${bin("pipe_writer")}' ${c.bytes} ${CHUNK} | '${bin("pipe_reader")}' ${CHUNK}`,
    ],
  },
  {
    id: "c_to_ours",
    label: "C writer → our PipeEnd.read",
    kind: "throughput",
    argv: (c) => denoRole("our-read", "--bytes", String(c.bytes)),
  },
  {
    id: "c_to_ours_stream",
    label: "C writer → our readable (BYOB)",
    kind: "throughput",
    argv: (c) => denoRole("our-stream", "--bytes", String(c.bytes)),
  },
  {
    id: "ours_to_c",
    label: "our PipeEnd.write → C reader",
    kind: "throughput",
    argv: (c) => denoRole("our-write", "--bytes", String(c.bytes)),
  },
  {
    id: "c_to_command",
    label: "C writer → Deno.Command stdout",
    kind: "throughput",
    argv: (c) => denoRole("command-read", "--bytes", String(c.bytes)),
  },
  {
    id: "rt_c_c",
    label: "C ↔ C (fork, two pipes)",
    kind: "roundtrip",
    argv: (c) => [bin("pipe_pingpong"), "self", String(c.rounds), String(MSG), String(c.warmup)],
  },
  {
    id: "rt_ours_ours",
    label: "Deno ↔ Deno (our pipes, spawn fds 3/4)",
    kind: "roundtrip",
    argv: (c) => pingArgv("deno", c),
  },
  {
    id: "rt_ours_c",
    label: "Deno ↔ C echo (our pipes)",
    kind: "roundtrip",
    argv: (c) => pingArgv("c", c),
  },
];

function pingArgv(peer: string, c: Config): string[] {
  return denoRole(
    "ping",
    "--peer",
    peer,
    "--rounds",
    String(c.rounds),
    "--warmup",
    String(c.warmup),
    "--max-ms",
    String(c.maxMs),
  );
}

/** Process groups (= session ids) of running row trees, killed on exit or timeout. */
const live = new Set<number>();

function killGroup(pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** Runs one row once in its own pinned session; returns its JSON line. */
async function runOnce(cpus: string, argv: string[], timeoutMs: number): Promise<unknown> {
  const child = new Deno.Command("taskset", {
    args: ["-c", cpus, "setsid", ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child.pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (timedOut) throw new Error(`timed out after ${timeoutMs} ms`);
    if (!out.success) {
      throw new Error(`exit code ${out.code}${stderr ? `: ${stderr.split("\n").at(-1)}` : ""}`);
    }
    const line = stdout.split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`no result line (stdout ${JSON.stringify(stdout.slice(-200))})`);
    }
  } finally {
    clearTimeout(timer);
    killGroup(child.pid); // anything the row left behind (normally nothing)
    live.delete(child.pid);
  }
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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

async function measureTable(cpus: string, c: Config, log: (s: string) => void): Promise<Table> {
  const rows: RowResult[] = ROWS.map((d) => ({
    id: d.id,
    label: d.label,
    kind: d.kind,
    unit: d.kind === "throughput" ? "GB/s" : "µs",
    samples: [],
    median: null,
    errors: [],
  }));
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of ROWS.entries()) {
      const row = rows[i];
      try {
        const v = toSample(def, c, await runOnce(cpus, def.argv(c), c.timeoutMs));
        row.samples.push(v);
        log(`  [${cpus}] rep ${rep + 1}/${c.reps} ${def.label}: ${fmt(v)} ${row.unit}`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.errors.push(msg);
        log(`  [${cpus}] rep ${rep + 1}/${c.reps} ${def.label}: FAILED (${msg})`);
      }
    }
  }
  for (const row of rows) row.median = median(row.samples);
  const get = (id: string) => rows.find((r) => r.id === id)!.median;
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
  const ratios = [
    ratio("read: ours / C→C", "c_to_ours", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
    ratio("read stream: ours / C→C", "c_to_ours_stream", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
    ratio("write: ours / C→C", "ours_to_c", "c_to_c", "≥ 0.9", (x) => x >= 0.9),
    ratio("read: ours / Deno.Command", "c_to_ours", "c_to_command", "≥ 1.2", (x) => x >= 1.2),
    ratio(
      "read stream: ours / Deno.Command",
      "c_to_ours_stream",
      "c_to_command",
      "≥ 1.2",
      (x) => x >= 1.2,
    ),
    ratio("round trip: Deno↔Deno / C↔C", "rt_ours_ours", "rt_c_c", "≤ 2", (x) => x <= 2),
    ratio("round trip: Deno↔C / C↔C", "rt_ours_c", "rt_c_c", "≤ 2", (x) => x <= 2),
  ];
  return {
    cpus,
    pinning: `taskset -c ${cpus} (every process of every row)`,
    rows,
    ratios,
  };
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? "—" : v.toFixed(digits);
}

function renderTable(t: Table, c: Config): string {
  const lines: string[] = [];
  lines.push(`\n## Pinning: taskset -c ${t.cpus} — every process of every row`);
  lines.push(
    `   throughput: ${(c.bytes / MiB).toFixed(0)} MiB per run in ${
      CHUNK / 1024
    } KiB chunks; round trip: ${MSG} B, up to ${c.rounds} timed rounds (≤ ${c.maxMs} ms) after ${c.warmup} warm-up; median of ${c.reps} runs`,
  );
  const w = Math.max(...t.rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${"median".padStart(9)}  ${"unit".padEnd(5)} samples`;
  lines.push(head);
  lines.push(`   ${"-".repeat(head.length - 3)}`);
  for (const r of t.rows) {
    const samples = r.samples.map((s) => fmt(s)).join(", ") +
      (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(9)}  ${r.unit.padEnd(5)} ${samples}`,
    );
  }
  lines.push("");
  const rw = Math.max(...t.ratios.map((r) => r.name.length)) + 2;
  lines.push(`   ${"ratio".padEnd(rw)}${"value".padStart(7)}  ${"target".padEnd(7)} verdict`);
  lines.push(`   ${"-".repeat(rw + 24)}`);
  for (const r of t.ratios) {
    const verdict = r.pass === null ? "n/a" : r.pass ? "met" : "MISSED";
    lines.push(
      `   ${r.name.padEnd(rw)}${fmt(r.value).padStart(7)}  ${r.target.padEnd(7)} ${verdict}`,
    );
  }
  return lines.join("\n");
}

async function compileHelpers(): Promise<void> {
  await Deno.mkdir(BIN, { recursive: true });
  for (const name of ["pipe_writer", "pipe_reader", "pipe_pingpong"]) {
    const src = new URL(`${name}.c`, HERE).pathname;
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", bin(name), src],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`cc -O2 ${name}.c failed (exit ${out.code})`);
  }
}

async function envInfo(): Promise<Record<string, unknown>> {
  // Deno wants --allow-all for any read under /proc: ask `cat` instead.
  const read = async (p: string) => {
    try {
      const r = await new Deno.Command("cat", { args: [p], stdout: "piped", stderr: "null" })
        .output();
      return new TextDecoder().decode(r.stdout);
    } catch {
      return "";
    }
  };
  const cpuinfo = await read("/proc/cpuinfo");
  return {
    deno: Deno.version.deno,
    kernel: (await read("/proc/sys/kernel/osrelease")).trim(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    pipeMaxSize: (await read("/proc/sys/fs/pipe-max-size")).trim(),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      peer: { type: "string", default: "deno" },
      bytes: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      "max-ms": { type: "string" },
      reps: { type: "string" },
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

  // Child roles print one JSON line and exit.
  if (values.role !== undefined) {
    const bytes = int(values.bytes, 2 * GiB);
    let r: unknown;
    switch (values.role) {
      case "our-read":
        r = await roleOurRead(bytes);
        break;
      case "our-stream":
        r = await roleOurStream(bytes);
        break;
      case "our-write":
        r = await roleOurWrite(bytes);
        break;
      case "command-read":
        r = await roleCommandRead(bytes);
        break;
      case "ping":
        r = await rolePing(
          values.peer!,
          int(values.rounds, 20000),
          int(values.warmup, 2000),
          int(values["max-ms"], 2000),
        );
        break;
      case "pong":
        await rolePong();
        return 0;
      default:
        throw new Error(`Unknown role ${values.role}`);
    }
    console.log(JSON.stringify(r));
    return 0;
  }

  const quick = values.quick!;
  const c: Config = {
    bytes: int(values.bytes, quick ? 256 * MiB : 2 * GiB),
    rounds: int(values.rounds, quick ? 3000 : 20000),
    warmup: int(values.warmup, quick ? 500 : 2000),
    maxMs: int(values["max-ms"], quick ? 500 : 1500),
    reps: Math.max(3, int(values.reps, 3)),
    timeoutMs: quick ? 30_000 : 60_000,
  };
  const log = (s: string) => console.error(s);
  const onSignal = () => {
    for (const g of live) killGroup(g);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const started = performance.now();
    const env = await envInfo();
    console.log(`# sysipc pipe benchmark`);
    console.log(`command: ${COMMAND}${quick ? " --quick" : ""}`);
    console.log(
      `deno ${env.deno}, kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}; chunk ${CHUNK} B`,
    );
    await compileHelpers();
    log(`compiled C helpers with cc -O2 into ${BIN.pathname}`);
    const tables: Table[] = [];
    for (const cpus of ["0,1", "0"]) {
      log(`measuring with taskset -c ${cpus} …`);
      const t = await measureTable(cpus, c, log);
      tables.push(t);
      console.log(renderTable(t, c));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        command: COMMAND + (quick ? " --quick" : ""),
        date: new Date().toISOString(),
        env,
        config: { ...c, chunk: CHUNK, messageBytes: MSG },
        tables,
        seconds,
      };
      await Deno.writeTextFile(values.json, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    return 0;
  } finally {
    for (const g of live) killGroup(g);
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
