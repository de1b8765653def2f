/**
 * The one set of argument checks every public entry point goes through, so
 * that a bad argument gets the same kind of error with the same kind of
 * message on every module and every runtime, before any system call:
 *
 * - a `TypeError` for a value of the wrong type, a `RangeError` for a value
 *   of the right type outside what is allowed;
 * - the message names the parameter, says what is allowed, and shows what
 *   was received: `size must be an integer from 1 to 18446744073692774399
 *   (kernel.shmmax), got -1`.
 *
 * A string of the right type but not of an allowed form (empty, holding a
 * NUL character, an unknown name) is a `TypeError`, as Node.js and Web IDL
 * enums have it; a `RangeError` is for numbers (and lengths) out of bounds.
 *
 * Unknown option names are ignored, as Web IDL dictionaries do (TypeScript's
 * types catch misspellings).
 *
 * @module
 */
import { SIGNALS } from "./signals.ts";

/** How a received value is shown in a message: `-1`, `NaN`, `"abc"`, `10n`, `null`, `an object`. */
export function shown(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return "a function";
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return "an array";
      return `${articled(value.constructor?.name ?? "object")}`;
    default:
      return String(value); // number (NaN, Infinity, -0 as 0), boolean, undefined
  }
}

function articled(name: string): string {
  return `${/^[AEIOU]/i.test(name) ? "an" : "a"} ${name}`;
}

/**
 * The `TypeError` for a value of the wrong type or form, for checks that are
 * their own (a `PipeEnd`, a typed-array constructor): `<name> must be
 * <allowed>, got <shown value>`.
 *
 * @param name The parameter, as the user wrote it.
 * @param allowed What is allowed: `"a PipeEnd, \"inherit\" or \"null\""`.
 * @param value What was passed (shown with {@linkcode shown}).
 * @param got How to show it instead, when `shown(value)` says too little.
 */
export function typeError(name: string, allowed: string, value: unknown, got?: string): TypeError {
  return new TypeError(`${name} must be ${allowed}, got ${got ?? shown(value)}`);
}

/**
 * The `RangeError` for a number or length out of bounds: `<name> must be
 * <allowed>, got <value>`.
 *
 * @param name The parameter.
 * @param allowed What is allowed.
 * @param got What was received, as it should be shown.
 */
export function rangeError(name: string, allowed: string, got: string | number): RangeError {
  return new RangeError(`${name} must be ${allowed}, got ${got}`);
}

/**
 * How a member of an object parameter is named in a message: `env.PATH`,
 * `env["MY-VAR"]`, `fds[3]`.
 *
 * @param base The parameter: `"env"`.
 * @param key The member.
 */
export function member(base: string, key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return `${base}.${key}`;
  return `${base}[${/^\d+$/.test(key) ? key : JSON.stringify(key)}]`;
}

/** Bounds of an integer parameter; `limit` names where a bound comes from. */
export interface IntegerRange {
  /** The smallest value allowed. */
  min: number;
  /** The largest value allowed (a bigint when it exceeds 2^53, as kernel limits may). */
  max: number | bigint;
  /** Where the bound comes from, shown after it: `"kernel.shmmax"`, `"SEMVMX"`. */
  limit?: string;
}

/**
 * An integer parameter within `[min, max]`.
 *
 * @param value What was passed.
 * @param name The parameter, as the user wrote it: `"size"`, `"count"`, `"options.timeout"`.
 * @param range The bounds.
 * @returns The value.
 * @throws {TypeError} If `value` is not an integer number.
 * @throws {RangeError} If it is outside the bounds (or beyond 2^53 − 1).
 */
export function integer(value: unknown, name: string, range: IntegerRange): number {
  const { min, max, limit } = range;
  const allowed = `an integer from ${min} to ${max}${limit ? ` (${limit})` : ""}`;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be ${allowed}, got ${shown(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${name} must be ${allowed}, got ${value}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `${name} must be at most ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER), got ${value}`,
    );
  }
  return value;
}

/**
 * A boolean option.
 *
 * @param value What was passed (`undefined` gives `fallback`).
 * @param name The option.
 * @param fallback The default.
 * @throws {TypeError} If `value` is neither a boolean nor `undefined`.
 */
export function boolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`${name} must be a boolean, got ${shown(value)}`);
  }
  return value;
}

/**
 * An options argument: an object, or `undefined` for none.
 *
 * @param value What was passed.
 * @param name The parameter: `"options"`, or `"SharedMemory.create() options"`.
 * @returns The object, or an empty one.
 * @throws {TypeError} For `null` or a non-object.
 */
export function options<T extends object>(value: T | undefined, name = "options"): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object") throw typeError(name, "an object", value);
  return value;
}

/**
 * An object parameter that is not options: `env`, `fds`, `ops[0]`.
 *
 * @param value What was passed.
 * @param name The parameter.
 * @param allowed What is allowed, for the message (default `"an object"`).
 * @returns The object.
 * @throws {TypeError} For `null` or a non-object.
 */
export function object(value: unknown, name: string, allowed = "an object"): object {
  if (value === null || typeof value !== "object") throw typeError(name, allowed, value);
  return value;
}

/**
 * An array parameter.
 *
 * @param value What was passed.
 * @param name The parameter.
 * @param allowed What is allowed, for the message: `"an array of strings"`.
 * @returns The array.
 * @throws {TypeError} If `value` is not an array.
 */
export function array(value: unknown, name: string, allowed: string): readonly unknown[] {
  if (!Array.isArray(value)) throw typeError(name, allowed, value);
  return value;
}

/**
 * Permission bits such as `0o600`.
 *
 * @param value What was passed (`undefined` gives `fallback`).
 * @param name The option (default `"mode"`).
 * @param fallback The default, `0o600`.
 * @throws {TypeError} If `value` is not an integer.
 * @throws {RangeError} If it is outside 0–0o777.
 */
export function mode(value: unknown, name = "mode", fallback = 0o600): number {
  if (value === undefined) return fallback;
  const allowed = "an integer from 0 to 0o777 (permission bits such as 0o600)";
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be ${allowed}, got ${shown(value)}`);
  }
  if (value < 0 || value > 0o777) {
    throw new RangeError(
      `${name} must be ${allowed}, got ${value < 0 ? value : `0o${value.toString(8)}`}`,
    );
  }
  return value;
}

/**
 * The `signal` and `timeout` of a wait.
 *
 * @param o The (already checked) options object.
 * @returns The timeout in ms, `Infinity` when none.
 * @throws {TypeError} If `signal` is not an `AbortSignal` or `timeout` not a number.
 * @throws {RangeError} If `timeout` is negative or NaN.
 */
export function waitOptions(o: { signal?: unknown; timeout?: unknown }): number {
  const { signal, timeout } = o;
  if (signal !== undefined) abortSignal(signal);
  return timeoutOption(timeout);
}

/**
 * The `timeout` of a wait that blocks the calling thread (the `…Sync`
 * variants). Checked as {@linkcode waitOptions} checks it; a `signal` is
 * refused, since nothing on a blocked thread could ever act on it.
 *
 * @param o The (already checked) options object.
 * @param call The method, for the message: `"acquireSync()"`.
 * @returns The timeout in ms, `Infinity` when none.
 * @throws {TypeError} If `timeout` is not a number, or a `signal` is given.
 * @throws {RangeError} If `timeout` is negative or NaN.
 */
export function syncWaitOptions(o: { signal?: unknown; timeout?: unknown }, call: string): number {
  if (o.signal !== undefined) {
    throw new TypeError(
      `signal is not an option of ${call}: it blocks the calling thread, where nothing could abort it (use timeout, or the promise-based method)`,
    );
  }
  return timeoutOption(o.timeout);
}

/**
 * A wait's `timeout`: milliseconds from 0 to `Infinity`.
 *
 * @param timeout What was passed.
 * @returns It, or `Infinity` when `undefined`.
 */
function timeoutOption(timeout: unknown): number {
  if (timeout === undefined) return Infinity;
  const allowed = "a number of milliseconds from 0 to Infinity";
  if (typeof timeout !== "number") {
    throw new TypeError(`timeout must be ${allowed}, got ${shown(timeout)}`);
  }
  if (!(timeout >= 0)) throw new RangeError(`timeout must be ${allowed}, got ${timeout}`);
  return timeout;
}

/**
 * One of a fixed set of strings.
 *
 * @param value What was passed.
 * @param name The parameter.
 * @param allowed The values allowed.
 * @throws {TypeError} If `value` is not one of them.
 */
export function oneOf<const V extends string>(
  value: unknown,
  name: string,
  allowed: readonly V[],
): V {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => JSON.stringify(a)).join(" or ");
    throw new TypeError(`${name} must be ${list}, got ${shown(value)}`);
  }
  return value as V;
}

const encoder = new TextEncoder();

/**
 * Bytes to send or write: a string (as UTF-8), an `ArrayBuffer` or any
 * `ArrayBufferView`, seen as a `Uint8Array` without copying.
 *
 * @param value What was passed.
 * @param name The parameter (default `"data"`).
 * @throws {TypeError} For any other type.
 */
export function bytes(value: unknown, name = "data"): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(
    `${name} must be a string, an ArrayBuffer or an ArrayBufferView, got ${shown(value)}`,
  );
}

/**
 * An `AbortSignal` option.
 *
 * @param value What was passed.
 * @param name The option (default `"signal"`).
 * @returns The signal, or `undefined` for none.
 * @throws {TypeError} If `value` is neither an `AbortSignal` nor `undefined`.
 */
export function abortSignal(value: unknown, name = "signal"): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw typeError(name, "an AbortSignal", value);
  }
  return value;
}

/**
 * A buffer to read into or write from, as the fast paths take it.
 *
 * @param value What was passed.
 * @param name The parameter: `"into"`, `"data"`.
 * @returns The value.
 * @throws {TypeError} If `value` is not a `Uint8Array`.
 */
export function uint8Array(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(name, "a Uint8Array", value);
  return value;
}

/** What a string handed to C may not be or hold. */
export interface StringRules {
  /** Whether `""` is allowed (default `true`). */
  empty?: boolean;
  /** Characters not allowed besides NUL, each shown quoted: `["="]`. */
  without?: readonly string[];
}

/**
 * A string that goes to the kernel or libc as a C string: NUL would end it
 * early, so it may not hold one.
 *
 * @param value What was passed.
 * @param name The parameter: `"command"`, `"args[0]"`, `"env.PATH"`.
 * @param rules Whether it may be empty, and other characters it may not hold.
 * @returns The string.
 * @throws {TypeError} If `value` is not a string, is empty when that is not
 *   allowed, or holds NUL or another character not allowed.
 */
export function string(value: unknown, name: string, rules: StringRules = {}): string {
  const { empty = true, without = [] } = rules;
  const bad = [...without.map((c) => JSON.stringify(c)), "NUL"];
  const allowed = `a ${empty ? "" : "non-empty "}string without ${
    bad.length > 1 ? `${bad.slice(0, -1).join(", ")} or ${bad.at(-1)}` : bad[0]
  } characters`;
  if (
    typeof value !== "string" || (!empty && value.length === 0) || value.includes("\0") ||
    without.some((c) => value.includes(c))
  ) {
    throw typeError(name, allowed, value);
  }
  return value;
}

const PATH = "a non-empty string or a file: URL, without NUL characters";

/**
 * A filesystem path: a string, or a `file:` URL (its pathname, decoded).
 *
 * @param value What was passed.
 * @param name The parameter (default `"path"`).
 * @returns The path as a string.
 * @throws {TypeError} For another type or URL scheme, an empty path, or one holding NUL.
 */
export function path(value: unknown, name = "path"): string {
  let p: string;
  if (value instanceof URL) {
    const got = `the URL ${JSON.stringify(value.href)}`;
    if (value.protocol !== "file:") throw typeError(name, PATH, value, got);
    try {
      p = decodeURIComponent(value.pathname);
    } catch {
      throw typeError(name, PATH, value, got);
    }
  } else if (typeof value === "string") {
    p = value;
  } else {
    throw typeError(name, PATH, value);
  }
  if (p.length === 0 || p.includes("\0")) throw typeError(name, PATH, p);
  return p;
}

/**
 * A file descriptor number.
 *
 * @param value What was passed.
 * @param name The parameter (default `"fd"`).
 * @returns The descriptor.
 * @throws {TypeError} If `value` is not an integer.
 * @throws {RangeError} If it is negative or above 2147483647.
 */
export function fd(value: unknown, name = "fd"): number {
  return integer(value, name, { min: 0, max: 0x7fff_ffff });
}

const SIGNAL = 'a signal name such as "SIGTERM" or "TERM", or a number from 1 to 64';

/**
 * A signal, by name (`"SIGTERM"`, `"TERM"`) or number (1–64, the real-time
 * signals included).
 *
 * @param value What was passed.
 * @param name The parameter (default `"signal"`).
 * @returns The signal number.
 * @throws {TypeError} For an unknown name, a non-integer or another type.
 * @throws {RangeError} For a number outside 1–64.
 */
export function signal(value: unknown, name = "signal"): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw typeError(name, SIGNAL, value);
    if (value < 1 || value > 64) throw rangeError(name, SIGNAL, value);
    return value;
  }
  if (typeof value === "string") {
    const n = SIGNALS[value.startsWith("SIG") ? value : `SIG${value}`];
    if (n !== undefined) return n;
  }
  throw typeError(name, SIGNAL, value);
}
