/**
 * The token bucket of scrooge (pure, time as an argument): traffic control
 * counts bytes (new TokenBucket(rateBps, …)), the control plane's rate
 * limits count messages (TokenBucket.counting). Tokens may go one packet
 * into debt: a packet is allowed when tokens > 0 and then charged in full,
 * which keeps the long-run rate exact for any packet size and never stalls
 * on packets larger than the depth.
 */
export class TokenBucket {
  /** bytes per ms */
  private perMs: number;
  private depth: number;
  tokens: number;
  private at: number;

  constructor(rateBps: number, depthMs: number, minDepthBytes: number, nowMs: number) {
    this.perMs = rateBps / 8 / 1000;
    this.depth = Math.max(this.perMs * depthMs, minDepthBytes);
    this.tokens = this.depth;
    this.at = nowMs;
  }

  setRate(rateBps: number, depthMs: number, minDepthBytes: number, nowMs: number): void {
    this.refill(nowMs);
    this.perMs = rateBps / 8 / 1000;
    this.depth = Math.max(this.perMs * depthMs, minDepthBytes);
    if (this.tokens > this.depth) this.tokens = this.depth;
  }

  /** A bucket of `burst` tokens refilled at `perSecond` (one token per message). */
  static counting(perSecond: number, burst: number, nowMs: number): TokenBucket {
    // bytes ≡ tokens: rateBps / 8 = perSecond; depth = perSecond/1000 × depthMs = burst
    return new TokenBucket(perSecond * 8, (1000 * burst) / perSecond, burst, nowMs);
  }

  /** Takes one token if the bucket allows it now (after refilling to nowMs). */
  spend(nowMs: number): boolean {
    if (!this.ready(nowMs)) return false;
    this.tokens -= 1;
    return true;
  }

  /** When the bucket last refilled (its last use). */
  get lastMs(): number {
    return this.at;
  }

  get rateBps(): number {
    return this.perMs * 8000;
  }

  refill(nowMs: number): void {
    if (nowMs > this.at) {
      this.tokens = Math.min(this.depth, this.tokens + (nowMs - this.at) * this.perMs);
      this.at = nowMs;
    }
  }

  /** True if a packet may go now (after refilling to nowMs). */
  ready(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens > 0;
  }

  take(bytes: number): void {
    this.tokens -= bytes;
  }

  /** ms until tokens > 0 (0 if already). */
  waitMs(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens > 0 ? 0 : (-this.tokens + 1) / this.perMs;
  }
}
