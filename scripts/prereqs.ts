/**
 * Makes sure what the test suites need beyond Deno is on the machine, so that
 * `deno task test` works on a fresh Debian machine that has only Node/npm,
 * gcc and apt:
 *
 * - the pinned tools (`tools/package.json`: Deno, Bun, Node 22/24/26, koffi,
 *   TypeScript): `npm ci --prefix tools` when `tools/node_modules` is missing
 *   or lacks a pinned Node (a checkout from before they were pinned), and Bun's own
 *   postinstall step when its binary is not in place (an install that skipped
 *   scripts leaves a stub);
 * - Node.js and npm (to run npm; the Node suites run the pinned Nodes);
 * - a C compiler (`cc`) for the seed's own C programs;
 * - Debian's `strace` (the FIFO tests delay a syscall with it), and
 *   Debian's `python3-sysv-ipc` and `python3-numpy` for the Python interop
 *   tests and examples — installed with `apt-get` when missing and we are
 *   root; otherwise a clear message says what to install.
 *
 *     deno run --allow-run --allow-read scripts/prereqs.ts
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function ok(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return r.success;
  } catch {
    return false; // not installed
  }
}

async function run(cmd: string, args: string[]): Promise<void> {
  console.error(`prereqs: ${cmd} ${args.join(" ")}`);
  const r = await new Deno.Command(cmd, { args, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")} failed with code ${r.code}`);
}

const problems: string[] = [];

if (!await ok("node", ["--version"]) || !await ok("npm", ["--version"])) {
  problems.push("Node.js and npm (Debian: apt-get install nodejs npm)");
} else {
  const tools = `${root}tools`;
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  const nodes = ["node22", "node24", "node26"].map((n) => `${tools}/node_modules/${n}/bin/node`);
  const pinned = async () =>
    (await Promise.all(nodes.map((n) => ok(n, ["--version"])))).every(Boolean);
  if (!await exists(`${tools}/node_modules`) || !await pinned()) {
    await run("npm", ["ci", "--prefix", tools, "--no-audit", "--no-fund"]);
  }
  if (!await pinned()) {
    problems.push(`the pinned Nodes (${nodes.join(", ")}): npm ci --prefix tools`);
  }
  const bun = `${tools}/node_modules/.bin/bun`;
  if (!await ok(bun, ["--version"])) {
    // npm may have skipped install scripts: Bun's puts the real binary in place.
    await run("node", [`${tools}/node_modules/bun/install.js`]);
    if (!await ok(bun, ["--version"])) {
      problems.push(`a working Bun at ${bun}: npm ci --prefix tools`);
    }
  }
  for (const bin of ["tsc", "deno"]) {
    if (!await exists(`${tools}/node_modules/.bin/${bin}`)) {
      problems.push(`tools/node_modules/.bin/${bin}: npm ci --prefix tools`);
    }
  }
}

if (!await ok("cc", ["--version"])) {
  problems.push("a C compiler: apt-get install gcc");
}

const PYTHON = "/usr/bin/python3";
/** Python module → the Debian package that provides it for /usr/bin/python3. */
const PYTHON_PACKAGES: Record<string, string> = {
  sysv_ipc: "python3-sysv-ipc",
  numpy: "python3-numpy",
};
const missing: string[] = [];
for (const [module, pkg] of Object.entries(PYTHON_PACKAGES)) {
  if (!await ok(PYTHON, ["-c", `import ${module}`])) missing.push(pkg);
}
// strace widens a race window in the FIFO tests (delayed chmod), as an attacker would.
const haveStrace = () => ok("strace", ["-V"]);
if (!await haveStrace()) missing.push("strace");
if (missing.length > 0) {
  const id = await new Deno.Command("id", { args: ["-u"], stdout: "piped" }).output();
  const root = new TextDecoder().decode(id.stdout).trim() === "0";
  if (root && await ok("apt-get", ["--version"])) {
    const env = ["-o", "Dpkg::Use-Pty=0"];
    try {
      await run("apt-get", ["install", "-y", "-q", ...env, ...missing]);
    } catch {
      await run("apt-get", ["update", "-q"]);
      await run("apt-get", ["install", "-y", "-q", ...env, ...missing]);
    }
  }
  for (const [module, pkg] of Object.entries(PYTHON_PACKAGES)) {
    if (!await ok(PYTHON, ["-c", `import ${module}`])) {
      problems.push(`Python's ${module} for ${PYTHON}: apt-get install ${pkg}`);
    }
  }
  if (!await haveStrace()) problems.push("strace: apt-get install strace");
}

if (problems.length > 0) {
  console.error(`The tests need:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  Deno.exit(1);
}
