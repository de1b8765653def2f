/**
 * Linux signal names and numbers (the same on x86-64 and aarch64).
 *
 * @module
 */

/** Signal numbers by name. */
export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
});

/** The name of a signal number (`"SIG<number>"` for real-time and unknown ones). */
export function signalName(signo: number): string {
  for (const [name, n] of Object.entries(SIGNALS)) if (n === signo) return name;
  return `SIG${signo}`;
}

/**
 * A signal number from a name (`"SIGTERM"`, `"TERM"`) or number.
 *
 * @throws {TypeError} For an unknown name or a non-integer.
 * @throws {RangeError} For a number outside 1–64.
 */
export function signalNumber(signal: string | number): number {
  if (typeof signal === "number") {
    if (!Number.isInteger(signal)) {
      throw new TypeError(`A signal number must be an integer, got ${signal}`);
    }
    if (signal < 1 || signal > 64) {
      throw new RangeError(`A signal number must be 1–64, got ${signal}`);
    }
    return signal;
  }
  if (typeof signal !== "string") throw new TypeError(`A signal must be a name or a number`);
  const name = signal.startsWith("SIG") ? signal : `SIG${signal}`;
  const n = SIGNALS[name];
  if (n === undefined) throw new TypeError(`Unknown signal ${JSON.stringify(signal)}`);
  return n;
}
