/**
 * Every implementation limit of scrooge, each with its reason. Protocol
 * constants fixed by DESIGN.md (port 8481, 512-byte messages, 120/180 s
 * rekey/reject, 10 s keepalive, 30 s dead, a replay window of at least 8128 packets) live
 * with their protocol modules and are re-exported at the bottom so this file
 * lists everything an operator may meet. The README's "Limits" section lists
 * them all (a test checks that every key appears there).
 */
import { REPLAY_WINDOW } from '../crypto/index.js';
import {
  DEAD_AFTER_MS,
  KEEPALIVE_AFTER_MS,
  PROBE_EVERY_MS,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_MS,
} from '../dataplane/session.js';
import type { SchedulerLimits } from '../dataplane/tc/scheduler.js';
import { MAX_CONTROL_MESSAGE_BYTES } from './control/messages.js';

export const LIMITS = {
  /**
   * Neighbour table (per link entries). An entry owns a TUN device only once its tunnel is
   * established (the peer proved its session key); before that it is a few hundred bytes.
   */
  defaultMaxNeighbors: 256,
  /**
   * Links (neighbour keys) per source address and interface: one host with many keys cannot take
   * the table, even with real handshakes. More keys from that address are ignored (counted).
   */
  linksPerSourceAddress: 4,
  /** Hard ceiling for --max-neighbors: file descriptors and memory stay bounded. */
  maxNeighborsCeiling: 4096,
  /**
   * Control messages accepted per second before verification (token bucket): per source address
   * for keys without an established link, per link for established ones.
   */
  perSourceMessagesPerSec: 20,
  /** Burst of the per-source bucket: a hello + confirm + tunnel + retransmits fit. */
  perSourceBurst: 40,
  /** Signature verifications per second for keys without an established link (≈ 5 % of a core with libsodium). */
  globalVerifiesPerSec: 2000,
  /**
   * Verifications per second reserved for established links (each also has its own bucket of
   * perSourceMessagesPerSec/perSourceBurst): a flood of strangers cannot delay their rekeys.
   */
  establishedVerifiesPerSec: 1000,
  /**
   * Source addresses tracked by the rate limiter, and by the anti-amplification byte counts (each
   * table on its own; least recently seen evicted first: an evicted source starts from zero credit).
   */
  rateLimiterSources: 4096,
  /**
   * Replay floors kept for links that are gone (the highest seq seen per key and interface), saved
   * in the state directory every floorSaveMs and at stop. Past it the least recently heard link's
   * floor is forgotten (counted): its old messages could then revive it once.
   */
  seqFloorLinks: 4096,
  /** The replay floors are written to the state directory at most this often (and at a clean stop). */
  floorSaveMs: 5000,
  /** First retransmission of scrooge_tunnel; doubles each time. */
  tunnelRetryInitialMs: 500,
  /** Retransmission backoff cap. */
  tunnelRetryMaxMs: 8000,
  /** scrooge_tunnel sends before the attempt is abandoned (and retried only after a new authenticated message). */
  tunnelMaxAttempts: 8,
  /**
   * Anti-amplification (as QUIC's): to an address that has not completed a handshake we send at
   * most this many times the bytes we received from it (a spoofed source cannot make us a
   * reflector). Addresses named with --peer and multicast hellos are exempt.
   */
  amplificationFactor: 3,
  /** A failed TUN/socket setup for a link is retried after this long, doubling each time. */
  deviceRetryMs: 5000,
  /**
   * Failed setups in a row after which a link is not retried until it is removed and discovered
   * again (e.g. a TUN name held by another device): reported, never retried forever.
   */
  deviceMaxAttempts: 5,
  /**
   * A session a confirm gave us must carry the peer's first packet within this (the data plane
   * probes it every second); otherwise it is negotiated again and the working session stays.
   */
  probeTimeoutMs: 10_000,
  /** The responder of a session rekeys itself if the initiator has not after REKEY + this slack. */
  responderRekeySlackMs: 15_000,
  /** Bounds for --hello-interval. */
  minHelloIntervalMs: 200,
  maxHelloIntervalMs: 600_000,
  /**
   * After an interface comes up, hellos go out at these gaps before the
   * regular interval: a neighbour that starts at the same moment may not have
   * been listening for the first one.
   */
  helloBurstMs: [250, 500, 1000],
  /** Hello jitter: ±20 % (DESIGN.md). */
  helloJitter: 0.2,
  /** One tick drives every timer (boringtun uses 250 ms too). */
  tickMs: 250,
  /** Interfaces (appearing, going down, changing address) are re-read this often (a few sysfs reads). */
  interfacePollMs: 250,
  /**
   * Keys kept apart in the accounting book (until read with reset). Past it the least recently
   * active departed key is merged into one "evicted" total, so no byte is lost, only its attribution.
   */
  accountingMaxKeys: 4096,
  /** Admin API request bodies. */
  apiMaxBodyBytes: 64 * 1024,
  /** Open connections per admin API or metrics server; more are refused until one closes. */
  apiMaxConnections: 32,
  /** A request's headers must arrive within this, and an idle connection (even one that never sent a byte) is closed after it. */
  apiHeadersTimeoutMs: 5000,
  /** A whole request, body included, must arrive within this. */
  apiRequestTimeoutMs: 10_000,
  /** nftables drop counters are read at most once per this, however many API/metrics requests ask. */
  filterCountersCacheMs: 1000,
  /** babeld reconnect interval after its socket closes. */
  babelReconnectMs: 2000,
  /** Weights accepted by --default-weight, config and `scrooge set weight`. */
  minWeight: 0.01,
  maxWeight: 10_000,
  /** Rates accepted for capacity and caps. */
  minRateBps: 8_000,
  maxRateBps: 10e12,
  /** Per-neighbour queue bound per direction (packets). */
  queuePackets: 1024,
  /** Per-neighbour queue bound per direction (bytes). */
  queueBytes: 2 * 1024 * 1024,
  /**
   * The packet pool all queues of one direction share (bytes of slots sized for the largest MTU).
   * Each queue (every neighbour's and our own) holds at most an equal slice of its slots (and at
   * most queuePackets), so however small the packets a neighbour sends, it cannot fill the pool.
   */
  totalQueueBytes: 64 * 1024 * 1024,
  /** Flow buckets inside one neighbour's queue (fair queueing of inner flows). */
  flowsPerNeighbor: 64,
  /** CoDel target sojourn time inside a neighbour's queue. */
  codelTargetMs: 5,
  /** CoDel interval. */
  codelIntervalMs: 100,
  /** DRR quantum of the schedulers and of the flow queues inside a neighbour's queue: one full Ethernet frame. */
  quantumBytes: 1514,
  /** Token-bucket depth: this much time at the configured rate (absorbs timer jitter). */
  bucketDepthMs: 5,
  /** Timer granularity of the scheduler pump while queues are backlogged. */
  pumpMs: 1,
} as const;

/** The traffic-control schedulers' limits (the daemon's; the simulator starts from them too). */
export function schedulerLimits(maxPacket: number): SchedulerLimits {
  return {
    queuePackets: LIMITS.queuePackets,
    queueBytes: LIMITS.queueBytes,
    totalQueueBytes: LIMITS.totalQueueBytes,
    flows: LIMITS.flowsPerNeighbor,
    targetMs: LIMITS.codelTargetMs,
    intervalMs: LIMITS.codelIntervalMs,
    bucketDepthMs: LIMITS.bucketDepthMs,
    quantumBytes: LIMITS.quantumBytes,
    maxPacket,
  };
}

/** Protocol constants (DESIGN.md), collected here for the README. */
export const PROTOCOL = {
  controlPort: 8481,
  maxControlMessageBytes: MAX_CONTROL_MESSAGE_BYTES,
  keepaliveAfterMs: KEEPALIVE_AFTER_MS,
  probeEveryMs: PROBE_EVERY_MS,
  deadAfterMs: DEAD_AFTER_MS,
  rekeyAfterMs: REKEY_AFTER_MS,
  rejectAfterMs: REJECT_AFTER_MS,
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  replayWindow: REPLAY_WINDOW,
} as const;
