/**
 * Internal: how the `sysipc` command prints — aligned tables, sizes, ages,
 * modes, times, and colour only on a terminal without `NO_COLOR`.
 *
 * @module
 */

/** Where the command writes, and whether it may colour. */
export interface Output {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Whether standard output takes colour (a terminal, and no `NO_COLOR`). */
  color: boolean;
}

const SGR = { bold: "1", dim: "2", red: "31", yellow: "33", green: "32" } as const;

/** `text` in a colour or weight, when `on`. */
export function paint(on: boolean, style: keyof typeof SGR, text: string): string {
  return on ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
}

// deno-lint-ignore no-control-regex
const SGR_RE = /\x1b\[[0-9;]*m/g;

/** A column's alignment. */
export type Align = "left" | "right";

/**
 * An aligned table: a header row, then rows; the last column is not padded.
 * Widths ignore colour codes.
 */
export function table(header: string[], rows: string[][], align: Align[], color: boolean): string {
  const width = (s: string) => [...s.replace(SGR_RE, "")].length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells.map((c, i) => {
      if (i === cells.length - 1 && align[i] !== "right") return c;
      const pad = " ".repeat(widths[i] - width(c));
      return align[i] === "right" ? pad + c : c + pad;
    }).join("  ").trimEnd();
  return [paint(color, "bold", line(header)), ...rows.map(line)].join("\n") + "\n";
}

/** Bytes for people: `512 B`, `4.0 KiB`, `1.5 GiB`. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let n = bytes / 1024;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

/** A duration for people: `45s`, `12m`, `3h`, `5d`. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Parses a duration: `90s`, `10m`, `2h`, `7d`, `500ms`, or a bare number of
 * seconds.
 *
 * @returns Milliseconds, or `undefined` if it is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * scale;
}

/** Permission bits as `ls -l` shows them, with the octal: `rw------- (600)`. */
export function mode(bits: number): string {
  const rwx = ["---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx"];
  return `${rwx[(bits >> 6) & 7]}${rwx[(bits >> 3) & 7]}${rwx[bits & 7]}`;
}

/** A key as `ipcs` shows it: `0x0000162e`. */
export function hexKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
}

/** A time in local time with its age, or `never`. */
export function when(date: Date | null, now: number): string {
  if (date === null) return "never";
  const d = date;
  const p = (n: number) => String(n).padStart(2, "0");
  const local = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${local} (${age(now - d.getTime())} ago)`;
}
