/**
 * fifo: the baseline. One arrival order across all neighbours (the oldest
 * waiting packet goes first), plain FIFO queues without fair queueing or
 * CoDel, weights ignored; capacity, share and caps still apply.
 */
import { activeList, type AlgorithmFactory, type SchedNeighbor } from '../algorithm.js';

export const create: AlgorithmFactory = () => {
  const { active, activate, deactivate } = activeList();
  return {
    name: 'fifo',
    fairQueueing: false,
    activate,
    deactivate,
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
