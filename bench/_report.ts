/**
 * The benchmark report's pure part: from the JSON documents the benchmarks
 * write with `--json` (see `bench/_harness.ts`) to SVG bar charts and the
 * Markdown of `bench/REPORT.md`. No file, process or runtime API is used
 * here — `bench/report.ts` runs the benchmarks and writes the files — so
 * the test suite can feed it a fixed sample on every runtime.
 *
 * How rows become a chart, per pinning (one table of a benchmark):
 *
 * - A **case** is a C peer and the rows compared with it: a row names its
 *   peer with `peer` (the harness's `Row.vs`), or else belongs to the last
 *   row without a runtime (a C program) above it with the same unit — the
 *   order every benchmark lists its rows in. A row of another unit with no
 *   such peer (the queues' idle cost) has no ratio: it is in the table, not
 *   in the chart.
 * - Every row with a median is one bar, its length the row's median over
 *   the peer's median measured in the same run (so the peer's bar ends at
 *   1.0, where a dashed line runs). A whisker spans the lowest and highest
 *   run over that same median. Bars are coloured by runtime, C grey.
 * - The scale is linear from 0 unless the ratios span more than a factor
 *   of {@linkcode LOG_SPAN}; then it is logarithmic, and the chart says so.
 * - The ratio keeps the unit's sense: GB/s or messages per second above 1
 *   beat C, µs above 1 lose to it; each case's heading says which.
 *
 * @module
 */

import type { RowLine, VerdictLine } from "./_harness.ts";

// ---------------------------------------------------------------------------
// The JSON a benchmark writes (`runBench` in bench/_harness.ts)
// ---------------------------------------------------------------------------

/**
 * One row of a measured table: the harness's row line as its `--json`
 * writes it (the type only: nothing of the harness runs here).
 */
export type ReportRow = Omit<RowLine, "vs" | "runtime"> & {
  /** `deno`, `node`, `bun`; absent for a peer such as a C program. */
  runtime?: string;
};

/** A check against a target (or `"(info)"`), as the harness writes it. */
export type ReportVerdict = VerdictLine;

/** One pinning's table. */
export interface ReportTable {
  /** The pinning's id: `0,1`, `0`, `0|1`. */
  cpus: string;
  /** Its description. */
  pinning: string;
  rows: ReportRow[];
  ratios: ReportVerdict[];
}

/** A benchmark's `--json` document. */
export interface BenchDoc {
  /** The benchmark's name (`pipe`, `semaphore`, …). */
  name?: string;
  /** `bench/pipe_bench.ts`. */
  script?: string;
  command: string;
  date: string;
  env: Record<string, unknown>;
  config: Record<string, unknown>;
  tables: ReportTable[];
  seconds: number;
}

// ---------------------------------------------------------------------------
// Cases and ratios
// ---------------------------------------------------------------------------

/** One bar: a row and its ratio to the case's peer. */
export interface Bar {
  row: ReportRow;
  /** median / peer median, or null (no median, or no peer). */
  ratio: number | null;
  /** Lowest and highest run over the peer's median. */
  low: number | null;
  high: number | null;
}

/** A C peer and the rows compared with it (or, with `peer` null, rows that have none). */
export interface Case {
  peer: ReportRow | null;
  unit: string;
  bars: Bar[];
}

/** Units where less is better (times, CPU use); more is better for the rest (rates). */
export function lowerIsBetter(unit: string): boolean {
  return /^(ns|µs|us|ms|s)$/.test(unit.trim()) || /cpu/i.test(unit);
}

/** Splits a table's rows into cases (see the module doc) and computes every ratio. */
export function cases(rows: readonly ReportRow[]): Case[] {
  const out: Case[] = [];
  const byPeer = new Map<string, Case>();
  const caseOf = (peer: ReportRow): Case => {
    let c = byPeer.get(peer.id);
    if (!c) {
      c = { peer, unit: peer.unit, bars: [] };
      byPeer.set(peer.id, c);
      out.push(c);
    }
    return c;
  };
  let current: Case | null = null;
  for (const row of rows) {
    let c: Case;
    const named = row.peer === undefined ? undefined : rows.find((r) => r.id === row.peer);
    if (named) {
      c = caseOf(named);
    } else if (row.runtime === undefined) {
      c = caseOf(row);
    } else if (current && current.peer && current.unit === row.unit) {
      c = current;
    } else {
      // No peer to divide by: a case of its own per unit.
      c = out.find((x) => x.peer === null && x.unit === row.unit) ??
        (out[out.length] = { peer: null, unit: row.unit, bars: [] });
    }
    c.bars.push(bar(row, c.peer));
    current = c;
  }
  return out;
}

function bar(row: ReportRow, peer: ReportRow | null): Bar {
  const base = peer?.median ?? null;
  if (base === null || !(base > 0) || row.median === null || row.samples.length === 0) {
    return { row, ratio: null, low: null, high: null };
  }
  return {
    row,
    ratio: row.median / base,
    low: Math.min(...row.samples) / base,
    high: Math.max(...row.samples) / base,
  };
}

// ---------------------------------------------------------------------------
// Scales
// ---------------------------------------------------------------------------

/** Ratios spanning more than this factor are drawn on a log scale. */
export const LOG_SPAN = 20;

/** A horizontal scale from ratio to a fraction 0…1 of the plot's width. */
export interface Scale {
  log: boolean;
  min: number;
  max: number;
  /** Ratio → 0…1 (clamped). */
  at(x: number): number;
  ticks: number[];
}

/** The scale for a set of ratios (1 always included). */
export function scaleFor(values: readonly number[]): Scale {
  const xs = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.min(1, ...xs);
  const hi = Math.max(1, ...xs);
  const clamp = (f: number) => Math.min(1, Math.max(0, f));
  if (hi / lo > LOG_SPAN) {
    // Bounds and ticks on the 1-2-5 series; only decades past three decades.
    const series = (e: number) => [1, 2, 5].map((m) => Number((m * 10 ** e).toPrecision(1)));
    const all: number[] = [];
    for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
      all.push(...series(e));
    }
    const min = all.filter((t) => t <= lo * (1 + 1e-9)).at(-1)!;
    const max = all.find((t) => t >= hi * (1 - 1e-9))!;
    const span = Math.log10(max) - Math.log10(min);
    const inside = all.filter((t) => t >= min && t <= max);
    const ticks = span <= 3 ? inside : inside.filter((t) => Number.isInteger(Math.log10(t)));
    return {
      log: true,
      min,
      max,
      at: (x) => clamp((Math.log10(x) - Math.log10(min)) / span),
      ticks,
    };
  }
  const step = niceStep(hi / 5);
  const max = Math.ceil((hi * 1.02) / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step / 2; t += step) ticks.push(Number(t.toFixed(10)));
  return { log: false, min: 0, max, at: (x) => clamp(x / max), ticks };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/** Escapes text for XML content and attribute values. */
export function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** A figure with three significant digits (`2.61`, `36.4`, `1240`). */
export function figure(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return v.toPrecision(2);
}

/** A ratio: `1.23×`. */
export function times(v: number | null): string {
  return v === null ? "—" : `${figure(v)}×`;
}

/** A spread as a percentage: `8 %`. */
export function percent(v: number | null): string {
  return v === null ? "—" : `${(v * 100).toFixed(0)} %`;
}

/**
 * A case's labels without the part they all share up to a colon
 * (`System V round trip: Deno ↔ C` → `Deno ↔ C`): the case's heading names it.
 */
export function shortLabels(labels: readonly string[]): string[] {
  if (labels.length < 2) return [...labels];
  let n = labels[0].length;
  for (const l of labels) {
    let i = 0;
    while (i < n && i < l.length && l[i] === labels[0][i]) i++;
    n = i;
  }
  const cut = labels[0].lastIndexOf(": ", n - 1);
  return cut < 0 ? [...labels] : labels.map((l) => l.slice(cut + 2));
}

// ---------------------------------------------------------------------------
// The SVG chart
// ---------------------------------------------------------------------------

/** Bar colours by runtime; C and other peers grey. */
export const COLORS: Readonly<Record<string, string>> = {
  deno: "#2563eb",
  node: "#15803d",
  bun: "#c2410c",
  peer: "#6b7280",
};
const RUNTIME_LABEL: Readonly<Record<string, string>> = { deno: "Deno", node: "Node", bun: "Bun" };

const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";
const WIDTH = 960;
const ROW_H = 20;
const HEAD_H = 26;
/** Rough width of a character of the 12 px font, for laying out labels. */
const CHAR_W = 6.4;

/** What a chart is titled. */
export interface ChartText {
  title: string;
  subtitle: string;
}

/**
 * One standalone SVG bar chart of a table: a heading per case, a bar per
 * row with a median, the peer's 1.0 line, the axis, a legend, and beside
 * each bar its ratio, median with unit, and spread. Rows without a median
 * are listed with why (skipped, failed) instead of a bar.
 */
export function chartSvg(table: ReportTable, text: ChartText): string {
  const all = cases(table.rows).filter((c) => c.peer !== null);
  const values = all.flatMap((c) =>
    c.bars.flatMap((b) => [b.ratio, b.low, b.high].filter((v): v is number => v !== null))
  );
  const scale = scaleFor(values);
  const short = new Map(all.map((c) => [c, shortLabels(c.bars.map((b) => b.row.label))]));
  const labelW = Math.min(
    400,
    Math.ceil(Math.max(20, ...[...short.values()].flat().map((l) => l.length)) * CHAR_W) + 16,
  );
  const figuresW = 220;
  const x0 = labelW + 8;
  const plotW = WIDTH - x0 - figuresW - 16;
  const xOf = (v: number) => x0 + scale.at(v) * plotW;
  const runtimes = [
    ...new Set(all.flatMap((c) => c.bars.map((b) => b.row.runtime ?? "peer"))),
  ].sort((a, b) => Object.keys(COLORS).indexOf(a) - Object.keys(COLORS).indexOf(b));

  const body: string[] = [];
  const headings: string[] = []; // drawn last, over the grid and the 1× line
  let y = 86; // below title, subtitle, legend and the figures column heads
  const plotTop = y;
  for (const c of all) {
    const sense = lowerIsBetter(c.unit) ? "lower is better" : "higher is better";
    headings.push(
      `<text class="case" x="8" y="${
        y + 17
      }" font-weight="600" stroke="#ffffff" stroke-width="4" paint-order="stroke">${
        xml(`vs ${c.peer!.label} — ${c.unit}, ${sense}`)
      }</text>`,
    );
    y += HEAD_H;
    for (const [i, b] of c.bars.entries()) {
      const mid = y + ROW_H / 2;
      const color = COLORS[b.row.runtime ?? "peer"] ?? COLORS.peer;
      body.push(
        `<text x="${labelW}" y="${mid + 4}" text-anchor="end">${xml(short.get(c)![i])}</text>`,
      );
      if (b.ratio === null) {
        const why = b.row.skipped ??
          (b.row.errors.length ? `failed: ${b.row.errors[0]}` : "no result");
        body.push(
          `<text x="${x0 + 4}" y="${mid + 4}" fill="#b91c1c" font-style="italic">${
            xml(why.length > 90 ? why.slice(0, 89) + "…" : why)
          }</text>`,
        );
      } else {
        const w = Math.max(1, xOf(b.ratio) - x0);
        body.push(
          `<rect class="bar" x="${x0}" y="${y + 3}" width="${w.toFixed(1)}" height="${
            ROW_H - 6
          }" fill="${color}"><title>${
            xml(`${b.row.label}: ${times(b.ratio)} (${figure(b.row.median)} ${b.row.unit})`)
          }</title></rect>`,
        );
        if (b.low !== null && b.high !== null && b.row.samples.length > 1) {
          const l = xOf(b.low), h = xOf(b.high);
          body.push(
            `<path d="M${l.toFixed(1)} ${mid}H${h.toFixed(1)}M${l.toFixed(1)} ${mid - 4}v8M${
              h.toFixed(1)
            } ${mid - 4}v8" stroke="#111827" stroke-width="1.2" fill="none"/>`,
          );
        }
        const fx = WIDTH - figuresW;
        body.push(
          `<text x="${fx + 50}" y="${mid + 4}" text-anchor="end" font-weight="600">${
            xml(times(b.ratio))
          }</text>`,
          `<text x="${fx + 152}" y="${mid + 4}" text-anchor="end">${
            xml(`${figure(b.row.median)} ${b.row.unit}`)
          }</text>`,
          `<text x="${fx + 160}" y="${mid + 4}" fill="#4b5563">${
            xml(percent(b.row.spread))
          }</text>`,
        );
      }
      y += ROW_H;
    }
    y += 6;
  }
  const plotBottom = y;
  const fx = WIDTH - figuresW;
  const heads = [
    `<text x="${fx + 50}" y="${plotTop - 2}" text-anchor="end" fill="#4b5563">× C</text>`,
    `<text x="${fx + 152}" y="${plotTop - 2}" text-anchor="end" fill="#4b5563">median</text>`,
    `<text x="${fx + 160}" y="${plotTop - 2}" fill="#4b5563">spread</text>`,
  ];

  // Grid, ticks and the C line, under the bars.
  const grid: string[] = [];
  for (const t of scale.ticks) {
    const x = xOf(t).toFixed(1);
    grid.push(
      `<line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotBottom}" stroke="#e5e7eb"/>`,
      `<text x="${x}" y="${plotBottom + 16}" text-anchor="middle" fill="#374151">${
        xml(`${Number(t.toPrecision(3))}×`)
      }</text>`,
    );
  }
  const one = xOf(1).toFixed(1);
  const line =
    `<line class="one" x1="${one}" y1="${plotTop}" x2="${one}" y2="${plotBottom}" stroke="#111827" stroke-width="1.5" stroke-dasharray="5 3"/>`;
  const axis =
    `<line x1="${x0}" y1="${plotBottom}" x2="${x0 + plotW}" y2="${plotBottom}" stroke="#6b7280"/>` +
    `<text x="${x0 + plotW / 2}" y="${plotBottom + 34}" text-anchor="middle" fill="#374151">${
      xml(`ratio to the C peer of the case, ${scale.log ? "log scale" : "linear scale"}`)
    }</text>`;

  const legend: string[] = [];
  let lx = 8;
  for (const rt of runtimes) {
    const name = rt === "peer" ? "C" : RUNTIME_LABEL[rt] ?? rt;
    legend.push(
      `<rect x="${lx}" y="50" width="12" height="12" fill="${COLORS[rt] ?? COLORS.peer}"/>`,
      `<text x="${lx + 17}" y="60">${xml(name)}</text>`,
    );
    lx += 30 + name.length * CHAR_W;
  }
  legend.push(
    `<path d="M${lx} 56H${lx + 22}M${lx} 52v8M${
      lx + 22
    } 52v8" stroke="#111827" stroke-width="1.2"/>`,
    `<text x="${lx + 28}" y="60">lowest–highest run</text>`,
  );
  lx += 150;
  legend.push(
    `<line x1="${lx}" y1="50" x2="${lx}" y2="63" stroke="#111827" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    `<text x="${lx + 6}" y="60">C = 1×</text>`,
  );

  const height = plotBottom + 46;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12" fill="#111827">`,
    `<title>${xml(text.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="700">${xml(text.title)}</text>`,
    `<text x="8" y="38" fill="#374151">${xml(text.subtitle)}</text>`,
    ...legend,
    ...heads,
    ...grid,
    ...body,
    line,
    ...headings,
    axis,
    `</svg>`,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// The Markdown
// ---------------------------------------------------------------------------

/** A benchmark's part of the report: its document and how it ran. */
export interface Family {
  /** Short name, from the file: `pipe` for `bench/pipe_bench.ts`. */
  key: string;
  /** `bench/pipe_bench.ts`. */
  script: string;
  /** The first paragraph of the file's module doc. */
  about: string;
  /** Its JSON, or null when it produced none. */
  doc: BenchDoc | null;
  /** Why it failed (exit code, stderr's last lines), if it did. */
  failure?: string;
}

/** A chart file: where the report links it, and its text. */
export interface ChartFile {
  /** Relative to the report (`report/pipe-cpu0.svg`). */
  path: string;
  svg: string;
}

/** What the whole report is made of. */
export interface ReportInput {
  families: Family[];
  /** The command that made it. */
  command: string;
  /** ISO date the run started. */
  date: string;
  /** How long the whole run took (s). */
  seconds: number;
  /** The folder the charts go in, relative to the report. */
  chartDir: string;
}

/** A pinning id as a file name part: `0,1` → `cpu0-1`, `0|1` → `cpu0+peer1`. */
export function pinSlug(cpus: string): string {
  if (cpus.includes("|")) {
    const [a, b] = cpus.split("|");
    return `cpu${a.replace(/,/g, "-")}_peer${b.replace(/,/g, "-")}`;
  }
  return `cpu${cpus.replace(/,/g, "-")}`;
}

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function title(f: Family): string {
  const n = f.doc?.name ?? f.key;
  return n.charAt(0).toUpperCase() + n.slice(1);
}

/** Machine facts from the first document that has them. */
function machine(families: Family[]): string[] {
  const doc = families.find((f) => f.doc)?.doc;
  if (!doc) return ["No benchmark produced results."];
  const e = doc.env;
  const runtimes = families.flatMap((f) => (f.doc?.env.runtimes as string[] | undefined) ?? []);
  const versions = [...new Set(runtimes)];
  return [
    "| | |",
    "|---|---|",
    `| CPU | ${cell(String(e.cpuModel ?? "unknown"))} |`,
    `| logical CPUs | ${cell(String(e.cpus ?? "?"))} |`,
    `| kernel | ${cell(String(e.kernel ?? "?"))} |`,
    `| runtimes | ${cell(versions.length ? versions.join("; ") : `deno ${e.deno}`)} |`,
  ];
}

/** The verdict word of a check. */
function verdict(v: ReportVerdict): string {
  if (v.target === "(info)") return "";
  return v.pass === null ? "n/a" : v.pass ? "met" : "**missed**";
}

/**
 * The report and its charts. Charts are per family and pinning, named
 * `<chartDir>/<family>-<pinning>.svg`.
 */
export function buildReport(input: ReportInput): { markdown: string; charts: ChartFile[] } {
  const charts: ChartFile[] = [];
  const md: string[] = [];
  const minutes = (s: number) => s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`;
  md.push(
    "# sysipc benchmark report",
    "",
    `Written by \`${input.command}\` (\`bench/report.ts\`), which ran ` +
      input.families.map((f) => `\`${f.script}\``).join(", ") +
      ` one after another, starting ${input.date.slice(0, 16).replace("T", " ")} UTC, ` +
      `in ${minutes(input.seconds)}. Every figure below comes from that run.`,
    "",
    "## The machine",
    "",
    ...machine(input.families),
    "",
    "## How to read the charts",
    "",
    "One chart per benchmark and pinning (which CPUs the processes may use). " +
      "Rows are grouped in cases, each headed by the C program it is compared with, " +
      "measured in the same run, round-robin with the other rows. " +
      "A bar is the median of the runs divided by that C program's median, so C ends at the " +
      "dashed 1× line; the whisker spans the lowest and the highest run on the same scale; beside " +
      "each bar are the ratio, the median with its unit and the spread (highest − lowest run, " +
      "over the median). For rates (GB/s, messages per second) more than 1× beats C; for times " +
      "(µs) and CPU use less than 1× does — each case's heading says which. The scale is linear " +
      `unless the ratios span more than ${LOG_SPAN}×, then logarithmic, as the axis says.`,
    "",
  );

  // Summary of goals.
  const judged = (f: Family) =>
    (f.doc?.tables ?? []).flatMap((t) => t.ratios)
      .filter((v) => v.target !== "(info)");
  md.push(
    "## Goals",
    "",
    "Each benchmark's checks against its targets (in its tables below), over every pinning.",
    "",
    "| benchmark | met | missed | not measured | shown without a target |",
    "|---|---:|---:|---:|---:|",
  );
  for (const f of input.families) {
    const v = judged(f);
    const info = (f.doc?.tables ?? []).flatMap((t) => t.ratios).length - v.length;
    md.push(
      `| [${cell(title(f))}](#${anchor(title(f))}) | ${v.filter((x) => x.pass === true).length} | ${
        v.filter((x) => x.pass === false).length
      } | ${v.filter((x) => x.pass === null).length} | ${info} |`,
    );
  }
  md.push("");

  for (const f of input.families) {
    md.push(`## ${title(f)}`, "", `\`${f.script}\`: ${f.about}`, "");
    if (f.failure) md.push("**The benchmark failed:**", "", "```", f.failure, "```", "");
    const doc = f.doc;
    if (!doc) continue;
    md.push(`Command: \`${cell(doc.command)}\` — ${minutes(doc.seconds)}.`, "");
    for (const t of doc.tables) {
      md.push(`### Pinning ${t.cpus}`, "", `${t.pinning}.`, "");
      const path = `${input.chartDir}/${f.key}-${pinSlug(t.cpus)}.svg`;
      const cs = cases(t.rows);
      if (cs.some((c) => c.peer !== null)) {
        charts.push({
          path,
          svg: chartSvg(t, {
            title: `${title(f)} — pinning ${t.cpus}`,
            subtitle: t.pinning,
          }),
        });
        md.push(`![${title(f)}, pinning ${t.cpus}: ratios to C](${path})`, "");
      }
      md.push(
        "| row (the C peer of each case in bold) | median | spread | × C | runs |",
        "|---|---:|---:|---:|---|",
      );
      for (const c of cs) {
        for (const b of c.bars) {
          const runs = b.row.skipped ??
            (b.row.samples.map(figure).join(", ") +
              (b.row.errors.length ? ` (${b.row.errors.length} failed: ${b.row.errors[0]})` : ""));
          const label = b.row === c.peer ? `**${cell(b.row.label)}**` : cell(b.row.label);
          md.push(
            `| ${label} | ${
              b.row.median === null ? "—" : `${figure(b.row.median)} ${b.row.unit}`
            } | ${percent(b.row.spread)} | ${times(b.ratio)} | ${cell(runs)} |`,
          );
        }
      }
      md.push("");
      if (t.ratios.length) {
        md.push("| measure | value | target | verdict |", "|---|---:|---|---|");
        for (const v of t.ratios) {
          md.push(
            `| ${cell(v.name)} | ${v.value === null ? "—" : v.value.toFixed(2)} | ${
              cell(v.target === "(info)" ? "" : v.target)
            } | ${verdict(v)} |`,
          );
        }
        md.push("");
      }
    }
  }
  return { markdown: md.join("\n"), charts };
}

/** GitHub's heading anchor for a heading text. */
export function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}
