/**
 * POSIX shared memory with NumPy: this process fills a `Float64Array` in a
 * named shared memory object; a Python process maps the same memory as a
 * NumPy array (`numpy.ndarray(…, buffer=shm.buf)`), squares every element in
 * place and writes their sum into the first slot; the result shows here at
 * once. Nothing is copied, on either side: one block of memory, two views.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/posix_shm_numpy.ts [COUNT=100000]
 *     bun examples/posix_shm_numpy.ts [COUNT=100000]
 *     node node_modules/sysipc/examples/posix_shm_numpy.js [COUNT]     (the npm package)
 *
 * Needs `/usr/bin/python3` with NumPy (`apt-get install python3-numpy`).
 *
 * Python names shared memory without the leading "/" (`psm_…`): ours,
 * `"/sysipc_…"`, is `SharedMemory(name="sysipc_…")` there. Python's resource
 * tracker (3.8 on; 3.13 added `track=False` to opt out) also believes that a
 * process which merely *attaches* owns the memory: when that process exits it
 * unlinks the name and warns of "leaked shared_memory objects". The script
 * below unregisters it right after attaching, so the name stays ours to
 * unlink (if it did not, our `unlink()` would fail with `ENOENT`).
 *
 * @module
 */
import { PosixSharedMemory } from "../posix/mod.ts";
import { pipe, spawn } from "../pipe/mod.ts";
import { args, isMain } from "./_run.ts";

/** The Python side: attach, square in place, store the sum in slot 0. */
const PYTHON = `
import sys, time
from multiprocessing import resource_tracker, shared_memory
import numpy

name, count = sys.argv[1], int(sys.argv[2])
shm = shared_memory.SharedMemory(name=name)
# Attaching registered the memory with the resource tracker as if we had
# created it: it would unlink the name when we exit. It is not ours.
resource_tracker.unregister(shm._name, "shared_memory")
samples = numpy.ndarray((count,), dtype=numpy.float64, buffer=shm.buf, offset=8)
result = numpy.ndarray((1,), dtype=numpy.float64, buffer=shm.buf, offset=0)
t0 = time.perf_counter()
numpy.square(samples, out=samples)   # in place: the TypeScript side sees it
result[0] = samples.sum()
ms = (time.perf_counter() - t0) * 1000
print(f"numpy {numpy.__version__}: squared {count} doubles in place, sum {result[0]:.0f} ({ms:.1f} ms)")
del samples, result                  # release the views before closing
shm.close()
`;

/** What {@linkcode posixShmNumpy} found. */
export interface NumpyResult {
  /** The sum NumPy stored in slot 0. */
  sum: number;
  /** Σ i² for i < count, computed here. */
  expected: number;
  /** Whether every element now holds its square. */
  squared: boolean;
  /** What the Python process printed. */
  python: string;
}

/**
 * Runs the demo: shared memory for `count` doubles and one result, filled
 * with 0, 1, 2, …; NumPy squares them in place and sums them.
 *
 * @param count How many doubles (default 100 000: every partial sum stays an exact integer).
 * @param log Where progress lines go.
 * @param python The Python interpreter (default `/usr/bin/python3`).
 * @returns The sum NumPy computed and what it should be.
 */
export async function posixShmNumpy(
  count = 100_000,
  log: (line: string) => void = console.log,
  python = "/usr/bin/python3",
): Promise<NumpyResult> {
  using mem = PosixSharedMemory.create({ size: 8 * (count + 1) });
  try {
    const result = mem.view(Float64Array, 0, 1);
    const samples = mem.view(Float64Array, 8, count);
    for (let i = 0; i < count; i++) samples[i] = i;
    log(`${mem.name}: ${count} doubles 0, 1, 2, … written by this process (${mem.size} bytes)`);
    using out = pipe(); // both ends closed on the way out, even if spawn() throws
    const child = spawn(python, {
      args: ["-c", PYTHON, mem.name!.slice(1), String(count)],
      stdout: out.writeEnd,
    });
    out.writeEnd.close(); // the child holds it: we see end of file when it is done
    const printed = (await new Response(out.readable).text()).trim();
    const status = await child.status;
    if (!status.success) throw new Error(`python failed: ${JSON.stringify(status)}`);
    log(`python: ${printed}`);
    let squared = true;
    for (let i = 0; i < count && squared; i++) squared = samples[i] === i * i;
    const expected = ((count - 1) * count * (2 * count - 1)) / 6;
    log(
      `seen here, without a copy: samples[${count - 1}] = ${samples[count - 1]}, ` +
        `sum = ${result[0]} (expected ${expected})`,
    );
    return { sum: result[0], expected, squared, python: printed };
  } finally {
    mem.unlink();
  }
}

if (isMain(import.meta)) {
  await posixShmNumpy(Number(args[0] ?? 100_000));
}
