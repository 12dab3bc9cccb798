/**
 * Every constant of scrooge, each defined once with its reason: the bottom of the
 * import graph (base/ imports nothing; crypto/, dataplane/, src/ and the tools
 * import from here), as wireguard-go's constants.go.
 *
 *   PROTOCOL  fixed by DESIGN.md: changing one changes the wire or a peer's
 *             expectations.
 *   WIRE      sizes of headers on the wire (ours and the kernel's).
 *   MTU       the MTU bounds and defaults.
 *   LIMITS    implementation limits an operator may meet (the README's
 *             generated "Limits" table lists every key with its comment).
 *   NATIVE    the addon's batch sizes; dataplane/native/*.c defines the same
 *             numbers (test/constants.test.ts checks that they agree).
 *
 * Only the protocol modules re-export what they implement (e.g. session.ts
 * REKEY_AFTER_MS, which a test-only variable may shorten).
 */

/** Protocol constants (DESIGN.md). */
export const PROTOCOL = {
  /** UDP port of the control protocol. */
  controlPort: 8481,
  /** Largest control message (DESIGN.md: 512 bytes of UTF-8). */
  maxControlMessageBytes: 512,
  /** Send an empty data packet after this long without sending. */
  keepaliveAfterMs: 10_000,
  /** The initiator re-sends its probe on an unproven pending session this often. */
  probeEveryMs: 1_000,
  /** No authenticated packet for this long: the tunnel is down. */
  deadAfterMs: 30_000,
  /** The initiator starts a new exchange after a session is this old. */
  rekeyAfterMs: 120_000,
  /** A session this old is never used again. */
  rejectAfterMs: 180_000,
  /** Ask for a rekey long before counters could matter (DESIGN: long before 2^60). */
  rekeyAfterMessages: 2 ** 48,
  /** Never send with a counter at or above this. */
  rejectAfterMessages: 2 ** 48 + 2 ** 32,
  /** Bits in the replay ring (RFC 6479): the window is this minus one 32-bit word, 8160 ≥ DESIGN's 8128. */
  replayRingBits: 8192,
  /** Hello jitter: ±20 %. */
  helloJitter: 0.2,
} as const;

/** Header sizes on the wire. */
export const WIRE = {
  /** Data packet type 1 (an empty payload is a keepalive). */
  msgData: 1,
  /** type(1) zero(3) session id(4) counter(8). */
  dataHeaderBytes: 16,
  /** Poly1305 tag. */
  tagBytes: 16,
  /** Outer IPv6 (40) + UDP (8) headers of every datagram. */
  ipv6UdpHeaderBytes: 48,
  /** Outer IPv4 (20) + UDP (8) headers of every datagram. */
  ipv4UdpHeaderBytes: 28,
  /** An Ethernet frame of a 1500-byte packet (1500 + 14): the DRR quantum and flow-queue unit. */
  ethernetFrameBytes: 1514,
} as const;

/** MTU bounds and defaults. */
export const MTU = {
  /** The smallest MTU IPv4 needs (RFC 791): a TUN device below it is refused. */
  minIPv4: 576,
  /** The smallest MTU IPv6 needs (RFC 8200): IPv6 addresses go only on tunnels at least this large, and the smallest --mtu. */
  minTunnel: 1280,
  /** The kernel's largest TUN MTU. */
  maxTun: 65535,
  /** Largest tunnel MTU the slabs and queues are sized for unless --mtu asks for more (jumbo frames). */
  maxDefault: 9000,
  /** Assumed underlay MTU when an interface's is unknown. */
  underlayDefault: 1500,
} as const;

/** The native addon's batch sizes (mirrored by #defines in dataplane/native). */
export const NATIVE = {
  /** Messages per recvmmsg/sendmmsg call. */
  maxMsgs: 256,
  /** Packets per send batch. */
  maxIov: 1024,
  /** Segments per UDP GSO send (the kernel's UDP_MAX_SEGMENTS is 64 on older kernels). */
  gsoMaxSegments: 64,
  /** Bytes per UDP GSO send (below 64 KiB with headers). */
  gsoMaxBytes: 65000,
  /** A UDP GRO receive slot: the largest coalesced datagram. */
  groSlotBytes: 65536,
  /** Control socket: receive slot (≥ maxControlMessageBytes) and messages per batch. */
  controlSlotBytes: 1024,
  controlBatch: 16,
  /**
   * TUN offloads: packets coalesced into one super-packet written to the TUN (the kernel's
   * UDP_MAX_SEGMENTS); a run also ends at 65,535 bytes, a gap, a flag other than ACK/PSH, or a
   * packet whose checksum does not verify (written alone, for the kernel to drop).
   */
  groMaxSegments: 64,
  /**
   * TUN offloads: flows one received batch keeps open for coalescing; a new flow past it closes
   * the oldest run (written as it is), so a batch of many small flows costs a bounded scan.
   */
  groMaxFlows: 16,
  /**
   * TUN offloads: each established tunnel's read buffer (one virtio header and the largest
   * super-packet); a super-packet larger than the batch's free slots is finished in further
   * batches in the same wake-up.
   */
  tunReadBufferBytes: 66_570,
} as const;

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
  /**
   * The replay floors are written to the state directory at most this often (and at a clean stop):
   * a write and fsync every 30 s, not a flash-wearing one every few seconds. After a crash, messages
   * from the last 30 s before it could be replayed once (no handshake can complete from them).
   */
  floorSaveMs: 30_000,
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
  /**
   * The control socket: a read that empties it within this long of the previous one stops reading
   * for this long, and what arrives meanwhile is read in one batch. A lone message is read at once;
   * a hub wakes about 4 times a second for its neighbours' hellos and confirms, not once per
   * message (64 neighbours send about 26 a second). A full batch never pauses.
   */
  controlCoalesceMs: 250,
  /** One tick drives every timer (boringtun uses 250 ms too) while anything is being negotiated. */
  tickMs: 250,
  /**
   * When every link is up and nothing is due sooner (no hello round, rekey or timeout within it),
   * the tick waits this long: an idle node (or a hub with many idle neighbours) wakes once a second.
   */
  idleTickMs: 1000,
  /**
   * Interfaces (appearing, going down, changing address) are re-read when rtnetlink reports a
   * change to one of them; only if the subscription fails are they polled this often.
   */
  interfacePollMs: 250,
  /** A burst of rtnetlink notifications is answered with one re-read this long after its first. */
  interfaceSettleMs: 50,
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
  quantumBytes: WIRE.ethernetFrameBytes,
  /** Token-bucket depth: this much time at the configured rate (absorbs timer jitter). */
  bucketDepthMs: 5,
  /** Timer granularity of the scheduler pump while queues are backlogged. */
  pumpMs: 1,
} as const;
