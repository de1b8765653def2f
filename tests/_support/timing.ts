/**
 * Time in the tests: sleeping, deadlines, polling, and counting event-loop
 * turns. These bound behaviour (a wait did not return early, did not block
 * the event loop, ended within a generous deadline), never speed: the suite
 * must pass on a loaded machine.
 *
 * @module
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Settles like `p`, or rejects with `message` once `ms` pass (the timer is always cleared). */
export function within<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Whether `p` is still pending after `ms` milliseconds. */
export async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.then(() => undefined, () => undefined),
    new Promise((resolve) => timer = setTimeout(() => resolve(marker), ms)),
  ]);
  clearTimeout(timer);
  return r === marker;
}

/** Polls `f` until it returns true (every 5 ms, up to `ms`). */
export async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/**
 * Counts event-loop turns while `body` runs: a 10 ms interval timer. The
 * proof that a wait did not block the event loop is that the timer kept
 * ticking meanwhile.
 */
export async function ticksDuring<T>(
  body: () => Promise<T>,
): Promise<{ value: T; ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  try {
    const value = await body();
    return { value, ticks, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Takes `count` results from `receive`, each call cancelled by an abort at a
 * random moment 0–2 ms after it starts: the way the tests show that a
 * cancellation under traffic loses and duplicates nothing. Only AbortErrors
 * are counted as cancellations; any other rejection fails.
 *
 * @param count How many results to collect.
 * @param receive One receive, honouring `signal`.
 * @param onCancel Called after each cancellation (a sender that paused on an
 *   empty queue until one happened goes on: so some receives are cancelled
 *   however slow the machine makes either side).
 * @returns The results in the order received, and how many calls were cancelled.
 */
export async function takeWithRandomAborts<T>(
  count: number,
  receive: (signal: AbortSignal) => Promise<T>,
  onCancel: () => void = () => {},
): Promise<{ got: T[]; cancelled: number }> {
  const got: T[] = [];
  let cancelled = 0;
  while (got.length < count) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), Math.random() * 2);
    try {
      got.push(await receive(ac.signal));
    } catch (e) {
      if (!(e instanceof DOMException && e.name === "AbortError")) throw e;
      cancelled++;
      onCancel();
    } finally {
      clearTimeout(timer);
    }
  }
  return { got, cancelled };
}
