/**
 * Shared memory and semaphores together, across real processes: the seed's
 * critical section (信号量, 临界区) and the synchronisation shared memory lacks
 * (共享内存没有同步). Each behaviour is paired with a control run that drops
 * the synchronisation and must then fail, so the passing run proves the
 * semaphores did the work.
 *
 * @module
 */
import assert from "node:assert/strict";
import { semCounter } from "../examples/sem_counter.ts";
import { boundedBuffer } from "../examples/bounded_buffer.ts";
import { assertNoFdLeak, assertNoIpcLeak } from "./_support/leaks.ts";
import { test } from "./_support/runtime.ts";

const quiet = () => {};

test("sem_counter: 4 processes × 2,000 increments under lock() end at exactly 8,000", async () => {
  await assertNoIpcLeak(() =>
    assertNoFdLeak(async () => {
      const r = await semCounter({ processes: 4, increments: 2000, lock: true, log: quiet });
      assert.equal(r.expected, 8000);
      assert.equal(r.total, 8000);
    })
  );
});

test("sem_counter control: the same run without the lock loses updates", async () => {
  await assertNoIpcLeak(async () => {
    const r = await semCounter({ processes: 4, increments: 2000, lock: false, log: quiet });
    assert.ok(r.total < r.expected, `without the lock ${r.total} of ${r.expected} survived`);
  });
});

test("bounded_buffer: 2 producers → 8-slot ring → 2 consumers, nothing lost, duplicated, torn or reordered", async () => {
  await assertNoIpcLeak(() =>
    assertNoFdLeak(async () => {
      const r = await boundedBuffer({
        producers: 2,
        consumers: 2,
        records: 5000,
        slots: 8,
        log: quiet,
      });
      assert.equal(r.sent, 10000);
      assert.equal(r.received, 10000);
      assert.deepEqual(
        { lost: r.lost, duplicated: r.duplicated, corrupt: r.corrupt, reordered: r.reordered },
        { lost: 0, duplicated: 0, corrupt: 0, reordered: 0 },
      );
      assert.equal(r.perConsumer.length, 2);
      assert.ok(r.perConsumer.every((n) => n > 0), `both consumers took records: ${r.perConsumer}`);
    })
  );
});

test("bounded_buffer control: the same ring without semaphores loses or repeats records", async () => {
  await assertNoIpcLeak(async () => {
    const r = await boundedBuffer({ records: 5000, slots: 8, sync: false, log: quiet });
    assert.ok(
      r.lost + r.duplicated + r.corrupt > 0,
      `without semaphores: ${r.lost} lost, ${r.duplicated} duplicated, ${r.corrupt} corrupt`,
    );
  });
});
