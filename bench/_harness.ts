/**
 * What every benchmark shares: running one measurement as its own pinned
 * process tree, the C peers' compilation, medians, and the machine facts
 * printed above each table.
 *
 * @module
 */

const BIN = new URL("./bin/", import.meta.url);

/** The path of a compiled C peer in `bench/bin/`. */
export const bin = (name: string): string => new URL(name, BIN).pathname;

/** Process groups (= session ids) of running measurements, killed on exit or timeout. */
export const live = new Set<number>();

/** Kills a whole process group; nothing if it is already gone. */
export function killGroup(pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** Kills every measurement still running (on SIGINT, or when main() ends). */
export function killAll(): void {
  for (const g of live) killGroup(g);
}

/**
 * Runs `argv` once as its own session (`setsid`) under `taskset -c cpus`, so
 * every process it starts inherits the CPU mask and can be killed as a group;
 * returns the JSON object on the last line of its stdout.
 *
 * @param cpus A `taskset -c` list such as `0,1` or `0`.
 * @param argv The command.
 * @param timeoutMs The group is killed after this.
 */
export async function runPinned(cpus: string, argv: string[], timeoutMs: number): Promise<unknown> {
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
    if (!out.success) throw new Error(`exit code ${out.code}${explain(stderr)}`);
    const line = stdout.split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`no result line (stdout ${JSON.stringify(stdout.slice(-200))})`);
    }
  } finally {
    clearTimeout(timer);
    killGroup(child.pid); // anything the measurement left behind (normally nothing)
    live.delete(child.pid);
  }
}

/** The line of a role's stderr that says what went wrong (not a stack frame), as ": …". */
function explain(stderr: string): string {
  // deno-lint-ignore no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("at "));
  const why = lines.find((l) => /error|Error:/.test(l)) ?? lines.at(-1);
  return why ? `: ${why.slice(0, 300)}` : "";
}

/** The median, or `null` for no samples. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A figure for a table: `—` when there is none. */
export function fmt(v: number | null, digits = 2): string {
  return v === null ? "—" : v.toFixed(digits);
}

/** Compiles `bench/<name>.c` with `cc -O2 -Wall` into `bench/bin/<name>`, for each name. */
export async function compileC(names: string[]): Promise<void> {
  await Deno.mkdir(BIN, { recursive: true });
  for (const name of names) {
    const src = new URL(`./${name}.c`, import.meta.url).pathname;
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", bin(name), src],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`cc -O2 ${name}.c failed (exit ${out.code})`);
  }
}

/**
 * Reads a small file such as one under /proc, or `""`. Deno 2.9 wants
 * --allow-all for any read under /proc, so `cat` reads it.
 */
export async function readProc(path: string): Promise<string> {
  try {
    const r = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(r.stdout);
  } catch {
    return "";
  }
}

/** Deno's version, the kernel, the CPU model and count, plus `extra`. */
export async function machineInfo(
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const cpuinfo = await readProc("/proc/cpuinfo");
  return {
    deno: Deno.version.deno,
    kernel: (await readProc("/proc/sys/kernel/osrelease")).trim(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    ...extra,
  };
}

/** One measured row of a table, as `renderRows` prints it. */
export interface RowLine {
  label: string;
  unit: string;
  samples: number[];
  median: number | null;
  /** (max − min) / median of the samples. */
  spread: number | null;
  errors: string[];
  /** Why the row did not run (a runtime not installed). */
  skipped?: string;
}

/** A ratio or figure checked against a target, as `renderVerdicts` prints it. */
export interface VerdictLine {
  name: string;
  value: number | null;
  /** `"≥ 0.9"`, `"≤ 2 µs"`, … or `"(info)"` for no target. */
  target: string;
  pass: boolean | null;
}

/** The rows table: label, median, unit, spread, samples (or why skipped, or what failed). */
export function renderRows(rows: RowLine[]): string[] {
  const w = Math.max(...rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${"median".padStart(9)}  ${"unit".padEnd(5)}${
    "spread".padStart(7)
  }  samples`;
  const lines = [head, `   ${"-".repeat(head.length - 3)}`];
  for (const r of rows) {
    const samples = r.skipped ?? r.samples.map((s) => fmt(s)).join(", ") +
        (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    const spread = r.spread === null ? "—" : `${(r.spread * 100).toFixed(0)}%`;
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(9)}  ${r.unit.padEnd(5)}${
        spread.padStart(7)
      }  ${samples}`,
    );
  }
  return lines;
}

/** The verdicts table: name, value, target, met / MISSED (nothing for info rows). */
export function renderVerdicts(title: string, verdicts: VerdictLine[]): string[] {
  const rw = Math.max(...verdicts.map((r) => r.name.length)) + 2;
  const lines = [
    `   ${title.padEnd(rw)}${"value".padStart(7)}  ${"target".padEnd(7)} verdict`,
    `   ${"-".repeat(rw + 24)}`,
  ];
  for (const r of verdicts) {
    const verdict = r.target === "(info)"
      ? ""
      : r.pass === null
      ? "n/a"
      : r.pass
      ? "met"
      : "MISSED";
    lines.push(
      `   ${r.name.padEnd(rw)}${fmt(r.value).padStart(7)}  ${r.target.padEnd(7)} ${verdict}`,
    );
  }
  return lines;
}
