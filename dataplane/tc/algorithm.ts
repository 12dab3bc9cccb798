/**
 * The pluggable part of traffic control: which backlogged neighbour sends
 * next. Queues, rate limits (capacity, share, caps), fair queueing inside a
 * neighbour and accounting are shared by all algorithms (scheduler.ts); an
 * algorithm only orders the neighbours.
 *
 * To add an algorithm: write one file in algorithms/ that exports a
 * `create` function returning a SchedulingAlgorithm, and add it to
 * algorithms/index.ts. It is then selectable with --scheduler NAME and
 * `scrooge set scheduler NAME`, and bench/sched compares it with the others.
 */

export interface SchedNeighbor {
  /** Stable index of the neighbour in the scheduler. */
  readonly index: number;
  /** Operator-set priority (default 1). */
  readonly weight: number;
  /** Free for the algorithm's bookkeeping (e.g. a DRR deficit); 0 when activated. */
  deficit: number;
  /** Arrival time (ms) of the neighbour's oldest queued packet. */
  oldest(): number;
}

export interface SchedulingAlgorithm {
  readonly name: string;
  /** Whether neighbour queues fair-queue inner flows with CoDel (false: plain FIFO queues). */
  readonly fairQueueing: boolean;
  /** `n` has packets now (it had none). */
  activate(n: SchedNeighbor): void;
  /** `n` has no packets any more. */
  deactivate(n: SchedNeighbor): void;
  /**
   * Picks the neighbour whose next packet goes now, among the backlogged ones
   * for which `eligible` is true (the others are held back by their cap).
   */
  pick(eligible: (n: SchedNeighbor) => boolean): SchedNeighbor | undefined;
  /** The picked neighbour sent a packet of `bytes` bytes. */
  sent(n: SchedNeighbor, bytes: number): void;
}

export interface AlgorithmOptions {
  /** Bytes per round for weight 1 (one full frame). */
  quantumBytes: number;
}

export type AlgorithmFactory = (opts: AlgorithmOptions) => SchedulingAlgorithm;

/** The backlogged neighbours in the order they became backlogged (activate appends, deactivate removes). */
export function activeList(): {
  active: SchedNeighbor[];
  activate: (n: SchedNeighbor) => void;
  deactivate: (n: SchedNeighbor) => void;
} {
  const active: SchedNeighbor[] = [];
  return {
    active,
    activate: (n) => void active.push(n),
    deactivate: (n) => {
      const i = active.indexOf(n);
      if (i >= 0) active.splice(i, 1);
    },
  };
}
