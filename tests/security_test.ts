// Security defaults (issue 13): every object is created 0600 unless asked,
// whatever the umask; create() is exclusive by default; every descriptor
// the library opens is close-on-exec, and a spawned child holds only what it
// was given — checked in a child of this runtime started under umask 000.
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "./_support/runtime.ts";
import { fixtureArgv, run } from "./_support/children.ts";

test("security defaults: 0600 under umask 000, exclusive create, close-on-exec, a child gets only what it is given", async () => {
  const [cmd, args] = fixtureArgv("security_child.ts", []);
  const r = await run("sh", ["-c", 'umask 000; exec "$0" "$@"', cmd, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const kinds = ["shm", "sem", "msg", "posix-shm", "posix-sem", "fifo"];
  if (process.env.SYSIPC_MQUEUE_DIR) kinds.push("posix-mq"); // listed only where mounted
  for (const kind of kinds) {
    assert.equal(report.modes[kind], 0o600, `${kind}: mode ${report.modes[kind]?.toString(8)}`);
  }
  for (const [kind, outcome] of Object.entries(report.exclusive)) {
    assert.equal(outcome, "EEXIST", `${kind} created a second time`);
  }
  for (const [what, cloexec] of Object.entries(report.cloexec)) {
    assert.equal(cloexec, true, `${what} is close-on-exec`);
  }
  // ls's own listing of /proc/self/fd is one more descriptor (3, or 4 when 3 is given).
  assert.deepEqual(report.childFds, ["0", "1", "2", "3"], "a child gets stdio only");
  assert.deepEqual(report.givenFds, ["0", "1", "2", "3", "4"], "…plus what it is given");
});
