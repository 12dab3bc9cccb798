/**
 * Closed tunnels release everything, native references included: 6 × 150
 * tunnels created and closed in a namespace, garbage-collected after each
 * round. 0.1.0 kept every one (the addon's strong reference to the callback
 * closed a cycle through the Tunnel): about 3 kB of heap per tunnel here, 6 kB
 * per neighbour in a daemon.
 */
import { fileURLToPath } from 'node:url';
import { Lab } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/churn.js', import.meta.url));

rootTest('tunnels created and closed in rounds leave no Tunnel alive after GC, and the heap stays flat', (t) => {
  const lab = new Lab('mem');
  t.teardown(() => lab.cleanup());
  const ns = lab.addNs('a');
  const out = lab.exec(ns, ['node', '--expose-gc', FIXTURE, '150'], { timeoutMs: 120_000 }).trim();
  const r = JSON.parse(out.split('\n').pop() ?? '{}') as {
    created: number;
    alive: number;
    heapWarm: number;
    heapEnd: number;
  };
  t.log(
    `${r.created} created and closed, ${r.alive} alive; heap ${(r.heapWarm / 1e6).toFixed(2)} MB after 300 → ${(r.heapEnd / 1e6).toFixed(2)} MB after 900`,
  );
  t.is(r.created, 900);
  t.is(r.alive, 0, 'every closed Tunnel was collected');
  t.true(r.heapEnd - r.heapWarm < 600 * 1000, 'under 1 kB of heap per tunnel of the last 600 (the leak was 3 kB)');
});
