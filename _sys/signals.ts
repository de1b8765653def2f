/**
 * Linux signal names and numbers (the same on x86-64 and aarch64). A signal
 * argument is checked and turned into its number by `signal()` in
 * `validate.ts`.
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
