/**
 * priority: strict priority by weight. The backlogged neighbour with the
 * highest weight always goes first; among equal weights the least recently
 * served goes (round robin per weight level, whatever other levels do).
 * Lower weights get only what higher ones leave (they can starve); caps
 * still apply.
 */
import { activeList, type AlgorithmFactory, type SchedNeighbor } from '../algorithm.js';

export const create: AlgorithmFactory = () => {
  const list = activeList();
  const active = list.active;
  let clock = 0;
  return {
    name: 'priority',
    fairQueueing: true,
    activate(n) {
      n.deficit = 0; // "last served" stamp: a neighbour back from idle goes first among its level
      list.activate(n);
    },
    deactivate: list.deactivate,
    pick(eligible) {
      let best: SchedNeighbor | undefined;
      for (const n of active) {
        if (!eligible(n)) continue;
        if (best === undefined || n.weight > best.weight || (n.weight === best.weight && n.deficit < best.deficit))
          best = n;
      }
      return best;
    },
    sent(n) {
      n.deficit = ++clock;
    },
  };
};
