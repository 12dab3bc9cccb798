/**
 * What a source may cost us before it is authenticated (pure, time as an
 * argument; doc/HOSTILE.md): whom we answer at all, the per-address message
 * buckets and the verification budgets, and the anti-amplification byte
 * counts. Every table here is bounded (rateLimiterSources, least recently
 * seen evicted first) and pruned when its entries carry no information.
 */
import { bytesEqual, toBase64 } from '../../crypto/index.js';
import { isLinkLocal6, type SockAddr } from '../../dataplane/sockaddr.js';
import { TokenBucket } from '../../dataplane/tc/bucket.js';
import { LIMITS } from '../limits.js';

export interface Source {
  iface: string;
  addr: SockAddr;
}

function addressKey(iface: string, a: SockAddr): string {
  return `${iface}|${a.family}|${toBase64(a.address)}`;
}

/** Takes `key` to the most recent end of a bounded, insertion-ordered map (evicting the oldest if new). */
function touch<V>(m: Map<string, V>, key: string, make: () => V): V {
  let v = m.get(key);
  if (v !== undefined) m.delete(key);
  else {
    if (m.size >= LIMITS.rateLimiterSources) {
      const first = m.keys().next();
      if (!first.done) m.delete(first.value);
    }
    v = make();
  }
  m.set(key, v);
  return v;
}

export class SourceGuard {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly verifyBudget = TokenBucket.counting(LIMITS.globalVerifiesPerSec, LIMITS.globalVerifiesPerSec, 0);
  /** Verifications for established links, apart from the global budget strangers share. */
  private readonly establishedVerifyBudget = TokenBucket.counting(
    LIMITS.establishedVerifiesPerSec,
    LIMITS.establishedVerifiesPerSec,
    0,
  );
  /** Bytes received from / sent to each unicast source (least recently seen first). */
  private readonly traffic = new Map<string, { rx: number; tx: number; at: number }>();

  constructor(
    private readonly peers: ReadonlyArray<{ addr: SockAddr; iface: string }>,
    private readonly neighborTimeoutMs: number,
  ) {}

  /** Unicast sources we may answer: link-local ones (on the interface they came in on) and --peer addresses. */
  answerable(s: Source): boolean {
    if (s.addr.family === 6 && isLinkLocal6(s.addr.address)) return true;
    return this.isConfiguredPeer(s.addr);
  }

  isConfiguredPeer(a: SockAddr): boolean {
    return this.peers.some((p) => p.addr.family === a.family && bytesEqual(p.addr.address, a.address));
  }

  /** Every datagram from a source we may answer earns it credit (QUIC counts all datagrams too). */
  credit(from: Source, bytes: number, nowMs: number): void {
    const e = touch(this.traffic, addressKey(from.iface, from.addr), () => ({ rx: 0, tx: 0, at: nowMs }));
    e.rx += bytes;
    e.at = nowMs;
  }

  /**
   * Pays for one verification: an established link from its own bucket and
   * the reserve for established links (a flood of other keys from its address
   * cannot spend them); anyone else from its source address's bucket and the
   * global budget.
   */
  pay(from: Source, linkBudget: TokenBucket | undefined, nowMs: number): boolean {
    if (linkBudget !== undefined) return linkBudget.spend(nowMs) && this.establishedVerifyBudget.spend(nowMs);
    const b = touch(this.buckets, addressKey(from.iface, from.addr), () =>
      TokenBucket.counting(LIMITS.perSourceMessagesPerSec, LIMITS.perSourceBurst, nowMs),
    );
    return b.spend(nowMs) && this.verifyBudget.spend(nowMs);
  }

  /**
   * May `bytes` go to an address that has not completed a handshake? Only
   * while what we sent it stays within amplificationFactor × what it sent us;
   * an address we never heard from (evicted, or never seen) gets nothing.
   */
  allowSend(iface: string, to: SockAddr, bytes: number, nowMs: number): boolean {
    const e = this.traffic.get(addressKey(iface, to));
    if (e === undefined || e.tx + bytes > LIMITS.amplificationFactor * e.rx) return false;
    e.tx += bytes;
    e.at = nowMs;
    return true;
  }

  /** Forgets what carries no information any more. */
  prune(nowMs: number): void {
    // a bucket idle long enough to be full again
    const idle = (LIMITS.perSourceBurst / LIMITS.perSourceMessagesPerSec) * 1000;
    for (const [k, b] of this.buckets) {
      if (nowMs - b.lastMs < idle) break; // insertion order = recency order
      this.buckets.delete(k);
    }
    // a source silent for the neighbour timeout owes and is owed nothing
    for (const [k, e] of this.traffic) {
      if (nowMs - e.at < this.neighborTimeoutMs) break;
      this.traffic.delete(k);
    }
  }
}
