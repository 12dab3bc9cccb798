/**
 * Anti-replay sliding window, RFC 6479 style (as in WireGuard): a ring of
 * 32-bit words; the window moves forward by whole words, so ahead-of-window
 * counters cost O(words skipped) and never a bit-by-bit shift.
 *
 * Window: 8192 bits of ring minus one word of redundancy = 8160 packets
 * (DESIGN.md asks for at least 8128).
 *
 * Counters are JS numbers. They are exact below 2^53; the session layer
 * rejects larger counters before they get here and rekeys long before.
 *
 * Usage on receive: `check(n)` before decrypting; `accept(n)` only after the
 * tag verifies. `validate(n)` is both at once (for tests and simple callers).
 */

import { PROTOCOL } from '../base/constants.js';

const WORD_BITS = 32;
const RING_BITS = PROTOCOL.replayRingBits;
const RING_WORDS = RING_BITS / WORD_BITS;
export const REPLAY_WINDOW = RING_BITS - WORD_BITS;
/**
 * Received counters at or above this are never accepted (2^53 − 2^4 − 1, mirroring WireGuard's
 * 2^64 − 2^4 − 1: the largest exact JS integer). Senders stop far below it
 * (dataplane/session.ts REJECT_AFTER_MESSAGES).
 */
export const COUNTER_ACCEPT_LIMIT = 2 ** 53 - 2 ** 4 - 1;

export class ReplayWindow {
  /**
   * [highest counter accepted so far (0 before any)], and the ring: typed arrays, so the native
   * lone-packet path (dataplane/native/express.c) checks and moves the same window in place.
   */
  readonly mark = new Float64Array(1);
  readonly ring = new Uint32Array(RING_WORDS);

  /** Highest counter accepted so far (0 before any). */
  get highest(): number {
    return this.mark[0] as number;
  }

  /** True if `n` would be accepted (not yet seen, not too old). No state change. */
  check(n: number): boolean {
    if (!(n >= 0 && n < COUNTER_ACCEPT_LIMIT) || !Number.isInteger(n)) return false;
    const last = this.mark[0] as number;
    if (n > last) return true;
    if (last - n > REPLAY_WINDOW) return false;
    const word = Math.floor(n / WORD_BITS) % RING_WORDS;
    const bit = 1 << (n % WORD_BITS);
    return ((this.ring[word] as number) & bit) === 0;
  }

  /**
   * Marks `n` as seen, moving the window forward if needed. Returns false if
   * it was already seen or is out of range (then nothing changes).
   */
  accept(n: number): boolean {
    if (!(n >= 0 && n < COUNTER_ACCEPT_LIMIT) || !Number.isInteger(n)) return false;
    const index = Math.floor(n / WORD_BITS);
    const last = this.mark[0] as number;
    if (n > last) {
      const current = Math.floor(last / WORD_BITS);
      const diff = Math.min(index - current, RING_WORDS);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) % RING_WORDS] = 0;
      this.mark[0] = n;
    } else if (last - n > REPLAY_WINDOW) {
      return false;
    }
    const word = index % RING_WORDS;
    const bit = 1 << (n % WORD_BITS);
    const old = this.ring[word] as number;
    if ((old & bit) !== 0) return false;
    this.ring[word] = old | bit;
    return true;
  }

  validate(n: number): boolean {
    return this.check(n) && this.accept(n);
  }
}
