/**
 * Child processes for the tests, the same on Deno, Node.js and Bun: where
 * the fixtures, examples and interop peers are, running them and other
 * programs as real child processes (through the library's own `spawn()` and
 * `pipe()`) with their output read line by line under deadlines, compiling
 * the seed's C programs, and running a fixture as another user.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { type Child, pipe, type PipeEnd, spawn, type SpawnOptions } from "./lib.ts";
import { childArgv, type ChildArgvOptions, scriptPath, tempDir } from "./runtime.ts";
import { within } from "./timing.ts";

// ---------------------------------------------------------------------------
// Scripts and files
// ---------------------------------------------------------------------------

/** The URL of a fixture script (its `.ts` source; `childArgv` picks the compiled twin). */
export function fixture(name: string): URL {
  return new URL(`../fixtures/${name}`, import.meta.url);
}

/** The URL of an example script. */
export function example(name: string): URL {
  return new URL(`../../examples/${name}`, import.meta.url);
}

/** The path of a file in `tests/interop/` (C sources, Python peers). */
export function interopFile(name: string): string {
  return fileURLToPath(new URL(`../interop/${name}`, import.meta.url));
}

/** `childArgv` for a fixture. */
export function fixtureArgv(
  name: string,
  args: readonly (string | number)[] = [],
  options?: ChildArgvOptions,
): [string, string[]] {
  return childArgv(fixture(name), args.map(String), options);
}

/** `childArgv` for an example. */
export function exampleArgv(name: string, args: readonly (string | number)[] = []): [
  string,
  string[],
] {
  return childArgv(example(name), args.map(String));
}

/** Whether anything exists at `path`. */
export function exists(path: string): boolean {
  return existsSync(path);
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(
  prefix: string,
  fn: (dir: string) => T | Promise<T>,
): Promise<T> {
  const dir = tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Child processes, through the library's spawn() and pipe()
// ---------------------------------------------------------------------------

/** A child's output, read line by line from our pipe, with a deadline per line. */
export class Lines {
  #end: PipeEnd;
  #buf = "";
  #done = false;
  #chunk = new Uint8Array(4096);
  #decoder = new TextDecoder();
  #pending?: Promise<number | null>;

  constructor(end: PipeEnd) {
    this.#end = end;
  }

  async #fill(ms: number, what: () => string): Promise<void> {
    this.#pending ??= this.#end.read(this.#chunk);
    const n = await within(this.#pending, ms, what);
    this.#pending = undefined;
    if (n === null) {
      this.#done = true;
      this.#buf += this.#decoder.decode();
    } else {
      this.#buf += this.#decoder.decode(this.#chunk.subarray(0, n), { stream: true });
    }
  }

  /** The next line (without its newline); throws if none comes within `ms` or the output ends. */
  async next(ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#done) {
        throw new Error(`the output ended mid-line or early (rest: ${JSON.stringify(this.#buf)})`);
      }
      await this.#fill(
        deadline - Date.now(),
        () => `no line within ${ms} ms (so far: ${JSON.stringify(this.#buf)})`,
      );
    }
  }

  /** The next line, parsed as JSON. */
  async json<T = Record<string, unknown>>(ms?: number): Promise<T> {
    return JSON.parse(await this.next(ms)) as T;
  }

  /**
   * Reads until `done(text)` holds for the text read so far, the output ends
   * or `ms` pass; returns that text (the caller's assertions judge it).
   */
  async readUntil(done: (text: string) => boolean, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    try {
      while (!done(this.#buf) && !this.#done && Date.now() < deadline) {
        await this.#fill(deadline - Date.now(), () => "deadline");
      }
    } catch (e) {
      if ((e as Error).message !== "deadline") throw e;
    }
    const text = this.#buf;
    this.#buf = "";
    return text;
  }

  /** Everything until end of file (at most `ms`). */
  async rest(ms = 120_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.#done) {
      await this.#fill(deadline - Date.now(), () => `the output did not end within ${ms} ms`);
    }
    const text = this.#buf;
    this.#buf = "";
    return text;
  }

  /** Closes our read end (a read still pending is dropped). */
  close(): void {
    this.#pending?.catch(() => {});
    this.#end.close();
  }
}

/** Processes the tests started (the shm tests count the segments these created). */
export const startedPids: Set<number> = new Set([process.pid]);

/** How {@linkcode start} connects a child. */
export interface StartOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** `"pipe"` gives `proc.stdin`; default `"null"`. */
  stdin?: "pipe" | "null";
  /** `"pipe"` (default) collects it for `output()` and failure messages. */
  stderr?: "pipe" | "inherit" | "null";
  /** A channel for the child (`spawn(cmd, { channel })`). */
  channel?: SpawnOptions["channel"];
}

/** What a finished child said. */
export interface Output {
  success: boolean;
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A running child with its stdout (and stderr, stdin) on our pipes. */
export class Proc {
  readonly child: Child;
  /** Its stdout, line by line. */
  readonly stdout: Lines;
  /** Its stdin, with `stdin: "pipe"`. */
  readonly stdin?: PipeEnd;
  #stderr?: PipeEnd;
  #stderrText?: Promise<string>;

  constructor(command: string, args: readonly string[], options: StartOptions = {}) {
    const out = pipe();
    const err = options.stderr === undefined || options.stderr === "pipe" ? pipe() : undefined;
    const inp = options.stdin === "pipe" ? pipe() : undefined;
    try {
      this.child = spawn(command, {
        args: [...args],
        cwd: options.cwd,
        env: options.env,
        stdin: inp?.readEnd ?? "null",
        stdout: out.writeEnd,
        stderr: err?.writeEnd ?? (options.stderr === "inherit" ? "inherit" : "null"),
        channel: options.channel,
      });
    } catch (e) {
      out.close();
      err?.close();
      inp?.close();
      throw e;
    }
    startedPids.add(this.child.pid);
    out.writeEnd.close();
    err?.writeEnd.close();
    inp?.readEnd.close();
    this.stdout = new Lines(out.readEnd);
    this.stdin = inp?.writeEnd;
    this.#stderr = err?.readEnd;
  }

  get pid(): number {
    return this.child.pid;
  }

  get status(): Child["status"] {
    return this.child.status;
  }

  kill(signal?: string): void {
    this.child.kill(signal);
  }

  /** Its stderr to end of file (what was collected, with `stderr: "pipe"`). */
  stderrText(): Promise<string> {
    if (this.#stderr === undefined) return Promise.resolve("");
    this.#stderrText ??= new Lines(this.#stderr).rest();
    return this.#stderrText;
  }

  /** Waits for the child to exit, with the rest of its stdout and its stderr. */
  async output(): Promise<Output> {
    const [stdout, stderr, status] = await Promise.all([
      this.stdout.rest(),
      this.stderrText(),
      this.child.status,
    ]);
    return { ...status, stdout, stderr };
  }

  /** Writes a line to its stdin. */
  async send(line: string): Promise<void> {
    await this.stdin!.write(new TextEncoder().encode(line + "\n"));
  }

  /** Kills it if it still runs, reaps it, and closes every pipe end we hold. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    this.stdin?.close();
    this.stdout.close();
    if (this.#stderrText) await this.#stderrText.catch(() => {});
    this.#stderr?.close();
  }
}

/** Starts a child with its stdout (and stderr, optionally stdin) on our pipes. */
export function start(command: string, args: readonly string[] = [], options?: StartOptions): Proc {
  return new Proc(command, args, options);
}

/** Starts a fixture in a new process of this runtime. */
export function startFixture(
  name: string,
  args: readonly (string | number)[] = [],
  options?: StartOptions & ChildArgvOptions,
): Proc {
  const [cmd, argv] = fixtureArgv(name, args, options);
  return start(cmd, argv, options);
}

/** Runs a program to its end and returns what it printed. */
export async function run(
  command: string,
  args: readonly string[] = [],
  options?: StartOptions,
): Promise<Output> {
  await using p = start(command, args, options);
  return await p.output();
}

/** Compiles a C file with `cc -O2` into `dir` and returns the binary's path. */
export async function compileC(src: string, dir: string, extra: string[] = []): Promise<string> {
  const out = join(dir, basename(src).replace(/\.c$/, ""));
  const r = await run("cc", ["-O2", "-o", out, src, ...extra]);
  assert.equal(r.code, 0, `cc failed: ${r.stderr}`);
  return out;
}

// ---------------------------------------------------------------------------
// Fixtures run as another user
// ---------------------------------------------------------------------------

/**
 * The directory the suite runs from: the checkout (Deno, Bun), or the Node
 * project the tests are compiled into (`.build/node/`, with its
 * `node_modules/`).
 */
const suiteRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The files a script loads: itself and, recursively, every file it names in a
 * static `import`/`export … from` or a literal `import("…")` by a relative
 * path (bare specifiers — `node:`, `bun:`, packages — are the runtime's or
 * `node_modules/`'s). A specifier in a comment that names no file is skipped.
 */
function importClosure(entry: string): string[] {
  const found = new Set<string>();
  const pending = [resolve(entry)];
  const specifiers = [
    /(?:^|[\s;}])(?:import|export)\s*(?:type\s+)?(?:[\w*{}\s,$]*?\sfrom\s*)?["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (let file; (file = pending.pop()) !== undefined;) {
    if (found.has(file)) continue;
    found.add(file);
    const text = readFileSync(file, "utf8");
    for (const re of specifiers) {
      for (const [, spec] of text.matchAll(re)) {
        if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
        const target = resolve(dirname(file), spec);
        if (existsSync(target) && statSync(target).isFile()) pending.push(target);
      }
    }
  }
  return [...found];
}

/**
 * Makes a copied tree readable by everyone: directories 0755, files 0644
 * (0755 if executable). Symbolic links are left alone: a chmod through one
 * would change its target, which may be in the checkout.
 */
function makeReadable(path: string): void {
  const info = lstatSync(path);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) makeReadable(join(path, name));
  } else {
    chmodSync(path, info.mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * Runs fixtures as another user (`setpriv`; needs root) — the way to test
 * what a mode or owner allows. That user may reach neither the checkout (a
 * clone inside a 0700 directory, as `mktemp -d` makes) nor the runtime
 * (`npx deno` keeps it under /root), and it must not need to: the fixture,
 * every file it imports (and on Node the project's `node_modules/`) and, when
 * that user cannot run it where it is, the runtime itself are copied into a
 * fresh temporary directory that user can read — never by loosening the
 * checkout — with a home of its own for the runtime's caches. The child
 * runs there (its working directory too); `using` removes it all.
 */
export class AsUser implements Disposable {
  /** The copy's root, readable by the other user. */
  readonly dir: string;
  readonly #ids: string[];
  #runtime = process.execPath;
  #copied = new Set<string>();

  constructor(uid = 65534, gid = 65534) {
    this.#ids = [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups"];
    this.dir = AsUser.#reachableDir();
    try {
      const home = join(this.dir, "home");
      mkdirSync(home);
      chownSync(home, uid, gid);
      const modules = join(suiteRoot, "node_modules"); // the Node project's (koffi, sysipc)
      if (existsSync(modules)) this.#copy(modules);
    } catch (e) {
      rmSync(this.dir, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * A new directory the other user can reach: under `$TMPDIR` if its every
   * ancestor lets others through, else under `/tmp` or `/dev/shm`.
   */
  static #reachableDir(): string {
    for (const base of [tmpdir(), "/tmp", "/dev/shm"]) {
      let ok = true;
      for (let d = resolve(base); ok; d = dirname(d)) {
        try {
          ok = (statSync(d).mode & 0o001) !== 0;
        } catch {
          ok = false;
        }
        if (d === dirname(d)) break;
      }
      if (!ok) continue;
      const dir = mkdtempSync(join(base, "sysipc_as_user_"));
      chmodSync(dir, 0o755);
      return dir;
    }
    throw new Error(`no temporary directory others can reach (tried ${tmpdir()}, /tmp, /dev/shm)`);
  }

  /** Copies a file or tree of the suite into the copy, at the same relative path. */
  #copy(path: string): string {
    const rel = relative(suiteRoot, path);
    if (rel.startsWith(`..${sep}`) || rel === "..") {
      throw new Error(`${path} is outside the suite's root ${suiteRoot}`);
    }
    const to = join(this.dir, "app", rel);
    if ([...this.#copied].some((c) => rel === c || rel.startsWith(c + sep))) return to;
    mkdirSync(dirname(to), { recursive: true });
    cpSync(path, to, { recursive: true, verbatimSymlinks: true });
    makeReadable(to);
    for (let d = dirname(to); d.startsWith(this.dir + sep); d = dirname(d)) chmodSync(d, 0o755);
    this.#copied.add(rel);
    return to;
  }

  /** The runtime, where the other user can run it (copied into the directory if need be). */
  async #reachableRuntime(): Promise<string> {
    if (this.#runtime === process.execPath) {
      const r = await run("setpriv", [...this.#ids, "test", "-x", process.execPath]);
      if (r.code !== 0) {
        const copy = join(this.dir, "bin", basename(process.execPath));
        mkdirSync(dirname(copy));
        chmodSync(dirname(copy), 0o755);
        copyFileSync(process.execPath, copy);
        chmodSync(copy, 0o755);
        this.#runtime = copy;
      }
    }
    return this.#runtime;
  }

  /** Runs a fixture of `tests/fixtures/` as the other user, to its end. */
  async runFixture(name: string, args: readonly (string | number)[] = []): Promise<Output> {
    const script = scriptPath(fixture(name));
    let copy = "";
    for (const file of importClosure(script)) {
      const to = this.#copy(file);
      if (file === resolve(script)) copy = to;
    }
    const runtime = await this.#reachableRuntime();
    const [, argv] = childArgv(copy, args.map(String));
    const home = join(this.dir, "home");
    return await run("setpriv", [
      ...this.#ids,
      "env",
      `HOME=${home}`,
      `TMPDIR=${home}`,
      `DENO_DIR=${home}/deno`, // Deno caches what it transpiles
      "BUN_RUNTIME_TRANSPILER_CACHE_PATH=0", // Bun, off
      runtime,
      ...argv,
    ], { cwd: join(this.dir, "app") });
  }

  [Symbol.dispose](): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
