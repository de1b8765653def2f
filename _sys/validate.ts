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
 * Unknown option names are ignored, as Web IDL dictionaries do (TypeScript's
 * types catch misspellings).
 *
 * @module
 */

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
  if (value === null || typeof value !== "object") {
    throw new TypeError(`${name} must be an object, got ${shown(value)}`);
  }
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
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${shown(signal)}`);
  }
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
