/**
 * fifo: the baseline. One arrival order across all neighbours (the oldest
 * waiting packet goes first), plain FIFO queues without fair queueing or
 * CoDel, weights ignored; capacity, share and caps still apply.
 */
import type { AlgorithmFactory, SchedNeighbor } from '../algorithm.js';

export const create: AlgorithmFactory = () => {
  const active: SchedNeighbor[] = [];
  return {
    name: 'fifo',
    fairQueueing: false,
    activate(n) {
      active.push(n);
    },
    deactivate(n) {
      const i = active.indexOf(n);
      if (i >= 0) active.splice(i, 1);
    },
    pick(eligible) {
      let best: SchedNeighbor | undefined;
      let t = Number.POSITIVE_INFINITY;
      for (const n of active) {
        if (!eligible(n)) continue;
        const o = n.oldest();
        if (o < t) {
          t = o;
          best = n;
        }
      }
      return best;
    },
    sent() {},
  };
};
