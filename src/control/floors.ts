/**
 * Replay floors of recently seen links (DESIGN.md: a receiver accepts only
 * seqs above the highest it has seen). A link's highest seq lives in its
 * table entry; when the entry goes (60 s of silence, displacement, a restart)
 * the floor stays here, so a captured old hello or scrooge_tunnel cannot
 * revive the link. Pure and bounded: at most `max` links, the least recently
 * updated forgotten first. The shell persists it (state.ts) and restores it at
 * start.
 */

/** Where the floors are kept between runs (the shell: a file in the state directory). */
export interface FloorStore {
  load(): Map<string, bigint>;
  save(floors: ReadonlyMap<string, bigint>): void;
}

export class SeqFloors {
  /** link key → highest accepted seq; Map order = least recently updated first. */
  private readonly floors = new Map<string, bigint>();
  /** Changed since the last save. */
  dirty = false;
  /** Floors dropped to stay within `max` (each one a link whose old messages could be replayed again). */
  evicted = 0;

  constructor(readonly max: number) {}

  /** The floor of a link (undefined: never seen, or forgotten). */
  get(link: string): bigint | undefined {
    return this.floors.get(link);
  }

  /** A message with this seq was accepted on this link. */
  note(link: string, seq: bigint): void {
    const old = this.floors.get(link);
    if (old !== undefined && seq <= old) return;
    if (old !== undefined) this.floors.delete(link);
    else if (this.floors.size >= this.max) {
      const first = this.floors.keys().next();
      if (!first.done) {
        this.floors.delete(first.value);
        this.evicted++;
      }
    }
    this.floors.set(link, seq);
    this.dirty = true;
  }

  get size(): number {
    return this.floors.size;
  }

  /** Restores saved floors (oldest first), keeping the bound. */
  restore(saved: ReadonlyMap<string, bigint>): void {
    for (const [k, v] of saved) this.note(k, v);
    this.dirty = false;
  }

  entries(): ReadonlyMap<string, bigint> {
    return this.floors;
  }
}
