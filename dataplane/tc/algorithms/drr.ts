/**
 * wtb-drr (default): deficit round robin by weight. Each backlogged neighbour
 * gets weight × quantum bytes per round, so backlogged neighbours share in
 * proportion to weight; an idle neighbour's share goes to the others
 * (work-conserving). Together with the scheduler's token buckets (capacity,
 * share, caps) this is the weighted token bucket + DRR of DESIGN.md, the same
 * arithmetic as HTB classes lending by quantum.
 */
import type { AlgorithmFactory, SchedNeighbor } from '../algorithm.js';

export const create: AlgorithmFactory = ({ quantumBytes }) => {
  const active: SchedNeighbor[] = [];
  let ptr = 0;
  const quantum = (n: SchedNeighbor) => Math.max(1, Math.round(n.weight * quantumBytes));
  return {
    name: 'wtb-drr',
    fairQueueing: true,
    activate(n) {
      n.deficit = quantum(n);
      active.push(n);
    },
    deactivate(n) {
      const i = active.indexOf(n);
      if (i < 0) return;
      active.splice(i, 1);
      if (i < ptr) ptr--;
      if (ptr >= active.length) ptr = 0;
      n.deficit = 0;
    },
    pick(eligible) {
      const len = active.length;
      if (len === 0) return undefined;
      // Visit neighbours in round order; one with credit left is served, one
      // without gets its quantum and the turn passes. Tiny weights may need
      // many rounds to earn a frame: bounded, then fast-forwarded.
      for (let visits = 0; visits < len * 64; visits++) {
        if (ptr >= len) ptr = 0;
        const n = active[ptr] as SchedNeighbor;
        if (eligible(n)) {
          if (n.deficit > 0) return n;
          n.deficit += quantum(n);
        }
        ptr++;
      }
      let best: SchedNeighbor | undefined;
      let rounds = Number.POSITIVE_INFINITY;
      for (const n of active) {
        if (!eligible(n)) continue;
        const r = Math.ceil((1 - n.deficit) / quantum(n));
        if (r < rounds) {
          rounds = r;
          best = n;
        }
      }
      if (!best) return undefined;
      for (const n of active) if (eligible(n)) n.deficit += rounds * quantum(n);
      ptr = active.indexOf(best);
      return best;
    },
    sent(n, bytes) {
      n.deficit -= bytes;
    },
  };
};
