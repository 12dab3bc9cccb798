/**
 * The latency keeper (dataplane/dataplane.ts): it runs while data flowed in the
 * last holdMs, skips the intervals in which real packets already ran the path,
 * and stops (no timer, no CPU) once traffic stops. No root, no device: the
 * keeper's scratch socket and tunnel have neither.
 */
import test from 'ava';
import { selectBackend } from '../crypto/index.js';
import { Dataplane } from '../dataplane/dataplane.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('the keeper skips intervals with real traffic, runs in the pauses, and stops after holdMs', async (t) => {
  let clock = 1000;
  const dp = new Dataplane({
    backend: selectBackend('auto').backend,
    now: () => clock,
    prewarm: false,
    warm: { intervalMs: 1, holdMs: 50 },
  });
  try {
    t.is(dp.keeperPasses, 0, 'nothing before traffic');
    dp.noteActivity(clock);
    // the clock stands still: data "just" flowed at every tick, so the path is warm already
    await sleep(25);
    t.is(dp.keeperPasses, 0, 'no scratch pass while real packets keep the path warm');
    clock += 5; // a pause shorter than holdMs
    await until('a keeper pass in the pause', () => dp.keeperPasses > 0);
    clock += 100; // longer than holdMs: the keeper stops
    await sleep(10);
    const after = dp.keeperPasses;
    await sleep(25);
    t.is(dp.keeperPasses, after, 'stopped: no passes once traffic stopped');
    dp.noteActivity(clock);
    clock += 2;
    await until('the keeper again after new traffic', () => dp.keeperPasses > after);
  } finally {
    dp.close();
  }
});
