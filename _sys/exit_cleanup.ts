/**
 * Internal: removing objects when the process ends — what the `removeOnExit`
 * option of every `create()` (and `mkfifo()`) registers here.
 *
 * When: at a normal exit (the event loop runs dry, `process.exit()`,
 * `Deno.exit()`), and on `SIGINT`, `SIGTERM` or `SIGHUP` that would end the
 * process. Checked on Deno 2.9, Node 20 and Bun 1.4: `process.on("exit")`
 * runs at the natural end and on `process.exit()` on all three, but not on
 * `Deno.exit()`, which only dispatches `unload` (so Deno gets both hooks;
 * the registry empties on the first). Neither runs when Deno dies of an
 * uncaught exception (Node and Bun run `exit` then).
 *
 * Signals: the listeners go in lazily, with the first registration, and
 * stay (taking a signal listener away again restores the default action on
 * all three runtimes, but nothing is gained by it). A listener on a signal
 * changes what the signal does, so ours puts it back: when no other
 * listener wants the signal, it removes the objects, restores the default
 * action (`signal(sig, SIG_DFL)`) and sends the signal again
 * (`kill(getpid(), sig)`) — the process dies of it, and its parent sees
 * "killed by SIGINT", exactly as without us. When the program has a
 * listener of its own, it has chosen to handle the signal and may well keep
 * running: then nothing is removed and the process is left alone (the
 * objects go when it exits). A signal the process ignores when the first
 * object is registered (`SIG_IGN`, inherited: `nohup`, `trap '' HUP`) stays
 * ignored: our listener does nothing then. It must still be there: once a
 * Deno program has any signal listener, Deno catches SIGHUP, SIGINT and
 * SIGTERM, and ends the process on one that no listener takes. (Deno and
 * Bun keep an inherited `SIG_IGN`; Node.js resets every signal to its
 * default at start-up, so there it ends the process, with or without us.)
 *
 * "Another listener" is counted with `process.listenerCount()` when ours
 * runs. A `once` listener that ran before ours has already taken itself off
 * by then; it still counts: Node and Deno announce that removal
 * (`removeListener`), and on Bun, which does not, ours is put first
 * (`prependListener`) so it runs before any listener added later with
 * `on()`/`once()`. Listeners added with `Deno.addSignalListener()` directly
 * are not seen by `process.listenerCount()` on Deno: use `process.on()`.
 *
 * `SIGKILL` (and a crash of the runtime itself) cannot be caught: nothing
 * runs, and the objects stay until someone removes them (`sysipc reap`).
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { Errno, errnoName } from "./errno.ts";
import { SIGNALS } from "./signals.ts";

const sys = libc(
  {
    // sighandler_t signal(int signum, sighandler_t handler);  (SIG_DFL is the null pointer)
    signal: { parameters: ["i32", "pointer"], result: "pointer" },
    // int kill(pid_t pid, int sig);
    kill: { parameters: ["i32", "i32"], result: "i32" },
    // pid_t getpid(void);
    getpid: { parameters: [], result: "i32" },
    // int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact);
    // (act NULL: only reads; the handler is the first 8 bytes of oldact)
    sigaction: { parameters: ["i32", "pointer", "buffer"], result: "i32" },
  } as const,
);

/** The signals after which objects are removed (those that end a process by default). */
export const EXIT_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** What this module uses of `process` (the same object on Deno 2, Node.js and Bun). */
interface ProcessEvents {
  on(event: string, listener: (...args: never[]) => void): unknown;
  prependListener?(event: string, listener: (...args: never[]) => void): unknown;
  listenerCount(event: string): number;
  exit(code?: number): never;
}

/** One object to remove at exit. */
interface Removal {
  /** The removing call, for a warning: `"shmctl IPC_RMID"`. */
  call: string;
  /** Removes the object: 0, or the errno. */
  remove(): number;
}

/** `SIG_IGN`, the handler address that says "ignored". */
const SIG_IGN = 1n;

/** What the failure of a removal at exit may say without a warning: the object is gone already. */
const GONE: ReadonlySet<number> = new Set([Errno.ENOENT, Errno.EINVAL, Errno.EIDRM]);

/** The objects to remove, by what they are: `"shared memory id 5"`, `"POSIX semaphore /lock"`. */
const registry = new Map<string, Removal>();
let installed = false;
/** The signals this process ignored (`SIG_IGN`) when the listeners went in. */
const ignoredAtStart = new Set<string>();
/** Per signal: listeners that took themselves off in the current task (a `once` that ran). */
const removedNow = new Map<string, number>();

function proc(): ProcessEvents {
  // deno-lint-ignore no-explicit-any
  const p = (globalThis as any).process as ProcessEvents | undefined;
  if (p === undefined || typeof p.on !== "function") {
    throw new Error(
      "removeOnExit needs the process object of Deno 2, Node.js or Bun, which this runtime lacks",
    );
  }
  return p;
}

/**
 * Registers an object to remove when the process ends (see the module doc).
 * Registering the same object again replaces the first registration.
 *
 * @param what What the object is, its identity: `"shared memory id 5"`,
 *   `"POSIX message queue /jobs"`, `"FIFO /tmp/x/fifo"` — the key
 *   {@linkcode forgetOnExit} takes, and what a warning names.
 * @param call The call that removes it, for a warning.
 * @param remove Removes it: 0, or the errno (read at once after the call).
 */
export function removeOnExit(what: string, call: string, remove: () => number): void {
  install();
  registry.set(what, { call, remove });
}

/**
 * Drops a registration: the program removed the object itself (or tried to),
 * so nothing — least of all a new object that took over its id or name — is
 * removed on its behalf later. Does nothing if `what` is not registered.
 *
 * @param what The object, as it was registered.
 */
export function forgetOnExit(what: string): void {
  registry.delete(what);
}

/** What is registered now, in order of registration (for tests and diagnostics). */
export function registeredForExit(): string[] {
  return [...registry.keys()];
}

/**
 * Removes every registered object now and empties the registry. A removal
 * that fails because the object is gone already (`ENOENT`, `EINVAL`,
 * `EIDRM`) is ignored; any other failure is reported on stderr, as there is
 * no caller left to throw to.
 */
export function removeRegisteredNow(): void {
  const all = [...registry];
  registry.clear();
  for (const [what, r] of all) {
    let e: number;
    try {
      e = r.remove();
    } catch (err) {
      console.error(`sysipc: could not remove ${what} at exit (${r.call}): ${err}`);
      continue;
    }
    if (e !== 0 && !GONE.has(e)) {
      console.error(`sysipc: could not remove ${what} at exit (${r.call}): ${errnoName(e)}`);
    }
  }
}

/** Puts the exit and signal listeners in place, once. */
function install(): void {
  if (installed) return;
  const p = proc();
  p.on("exit", removeRegisteredNow);
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno !== undefined && typeof g.addEventListener === "function") {
    g.addEventListener("unload", removeRegisteredNow); // Deno.exit() runs only this
  }
  p.on("removeListener", (event: string) => {
    if (!(EXIT_SIGNALS as readonly string[]).includes(event)) return;
    removedNow.set(event, (removedNow.get(event) ?? 0) + 1);
    queueMicrotask(() => removedNow.delete(event));
  });
  // Measured before any listener goes in: on Deno, the first signal
  // listener of any kind makes the runtime catch SIGHUP, SIGINT and SIGTERM.
  for (const name of EXIT_SIGNALS) if (ignored(SIGNALS[name])) ignoredAtStart.add(name);
  for (const name of EXIT_SIGNALS) {
    const listener = () => onSignal(name);
    if (typeof p.prependListener === "function") p.prependListener(name, listener);
    else p.on(name, listener);
  }
  installed = true;
}

/** Whether `signo` is ignored now (`SIG_IGN`, inherited from the parent). */
function ignored(signo: number): boolean {
  const old = new BigUint64Array(32); // struct sigaction is 152 bytes on x86-64 and aarch64
  return sys().sigaction(signo, null, old) === 0 && old[0] === SIG_IGN;
}

function onSignal(name: (typeof EXIT_SIGNALS)[number]): void {
  const p = proc();
  const others = p.listenerCount(name) - 1 + (removedNow.get(name) ?? 0);
  // The program handles the signal itself and may keep running: leave it be.
  if (others > 0) return;
  // It was started ignoring this signal: it ignores it still. (Our listener
  // stays in place for that: with none, Deno, which catches the signal now,
  // would end the process.)
  if (ignoredAtStart.has(name)) return;
  removeRegisteredNow();
  dieOf(SIGNALS[name]);
}

/**
 * Ends the process by `signo`'s default action, as if no listener had been
 * there: the exit status says "killed by" that signal.
 */
function dieOf(signo: number): void {
  const s = sys();
  s.signal(signo, null); // SIG_DFL
  s.kill(s.getpid(), signo);
  // Not reached: the signal is fatal to the whole process before kill()
  // returns. Were it held up, end the way a shell reports a signal death.
  proc().exit(128 + signo);
}
