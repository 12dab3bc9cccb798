/**
 * The node's one sequence counter for every control message it sends
 * (DESIGN.md, "Sequence numbers").
 *
 * Invariant: every seq handed out is below the ceiling already persisted in
 * the state directory. The next seq is max(last + 1, wall clock in µs); when
 * it reaches the ceiling we first persist a new ceiling one block ahead, then
 * hand it out. After a restart we start at the persisted ceiling, so seqs
 * strictly increase across restarts even if the clock went back a year (or
 * the box booted without a real-time clock). With the clock running normally
 * the ceiling is rewritten about once per block (an hour).
 *
 * Pure: the clock value is a parameter, storage is an interface.
 */
import { ControlError } from '../errors.js';
import { U64_MAX } from './messages.js';

/** How far ahead the persisted ceiling is reserved: one hour of wall-clock microseconds. */
export const SEQ_RESERVE_BLOCK = 3_600_000_000n;

export interface SeqStore {
  /** The persisted ceiling, or undefined if none was ever written. */
  load(): bigint | undefined;
  /** Durably persist a new ceiling (must not return before it is on disk). */
  save(ceiling: bigint): void;
}

export class SeqSource {
  private last: bigint;
  private ceiling: bigint;

  constructor(
    private readonly store: SeqStore,
    private readonly block: bigint = SEQ_RESERVE_BLOCK,
  ) {
    const stored = store.load();
    this.ceiling = stored ?? 0n;
    this.last = this.ceiling - 1n;
  }

  /** The next sequence number; `nowUs` is the wall clock in microseconds since the epoch. */
  next(nowUs: bigint): bigint {
    let candidate = this.last + 1n;
    if (nowUs > candidate) candidate = nowUs;
    if (candidate > U64_MAX) throw new ControlError('ERR_SEQ_STATE', 'sequence numbers exhausted (2^64)');
    if (candidate >= this.ceiling) {
      let ceiling = candidate + this.block;
      if (ceiling > U64_MAX) ceiling = U64_MAX;
      this.store.save(ceiling);
      this.ceiling = ceiling;
    }
    this.last = candidate;
    return candidate;
  }

  /** The persisted ceiling (for status output). */
  get reservedUntil(): bigint {
    return this.ceiling;
  }
}
