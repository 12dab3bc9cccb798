/**
 * The control protocol's pure core: discovery and tunnel negotiation
 * (DESIGN.md, "Control protocol"). No sockets, no clock, no randomness of its
 * own: the shell (src/daemon.ts) passes datagrams, interface changes, tunnel
 * health and `nowMs`; the core returns Actions for the shell to carry out.
 *
 * Entries are per link: (neighbour key, mesh interface). A neighbour seen on
 * two interfaces has two links, two tunnels, two TUN devices.
 *
 * Receive pipeline for a datagram (cheapest checks first):
 *   interface is a mesh interface that is up, source we may answer
 *   → strict decode                                      (typed errors, counted)
 *   → not from ourselves, addressed to us (or broadcast hello)
 *   → seq strictly above the link's highest              (a replay is dropped before any crypto)
 *   → a token: an established link pays from its own bucket and a reserve of
 *     verifications; any other key from its source address's bucket and the
 *     global verify budget (so a flood of other keys from an established
 *     neighbour's address, spoofed or not, does not spend that neighbour's)
 *   → Ed25519 signature                                  (only now may state change)
 *   → create/update the link, then dispatch on type
 *
 * Negotiation per link:
 *   discovered ──(we start)──▶ negotiating ──(the peer's first packet on the session)──▶ up
 *        ▲                                                               │
 *        └────────────── neighbour silent: link removed ◀── down ◀──(30 s no packet)
 *
 *   - A node with a discovered link and no tunnel starts one: fresh X25519
 *     pair, scrooge_tunnel, retransmitted with backoff (same key) until a
 *     confirm arrives.
 *   - Crossing initiations: the one from the lower srcPK (bytewise) wins; the
 *     winner ignores the loser's scrooge_tunnel, the loser abandons its own
 *     attempt and answers.
 *   - scrooge_tunnel on a link that has a tunnel is a rekey or a peer restart:
 *     the new session is installed beside the old one (make-before-break).
 *   - A retransmitted scrooge_tunnel (same tunnelPK) gets the same answer.
 *   - A confirm is never answered.
 *   - Rekey: the initiator of the current session after REKEY_AFTER_MS; the
 *     responder itself if nothing came REKEY_AFTER_MS + slack.
 *   - Up means proven both ways: the data plane reports a current session only
 *     once the peer has authenticated a packet on it (dataplane/session.ts:
 *     the initiator probes the session a confirm gave it, the responder
 *     acknowledges). A confirmed session never proven within probeTimeoutMs
 *     (a lost probe, a late confirm for an abandoned attempt) is negotiated
 *     again; the working session stays in use meanwhile.
 *   - Tunnel setup (device, socket) that fails is retried with a doubling
 *     delay and given up after deviceMaxAttempts (a TUN name held by another
 *     device is not retried forever); the link says why (`lastError`).
 */
import { isScroogeError } from '../../base/errors.js';
import {
  bytesEqual,
  compareBytes,
  type CryptoBackend,
  deriveSessionKeys,
  type SessionKeys,
  toBase64,
  tunnelKeyPair,
} from '../../crypto/index.js';
import { DEAD_AFTER_MS, REKEY_AFTER_MS } from '../../dataplane/session.js';
import type { SockAddr } from '../../dataplane/sockaddr.js';
import { TokenBucket } from '../../dataplane/tc/bucket.js';
import { LIMITS, PROTOCOL } from '../../base/constants.js';
import { SeqFloors } from './floors.js';
import {
  type Action,
  ALL_ONES_V6_MULTICAST,
  ControlCounters,
  established,
  isMulticast6,
  linksFrom,
  displaceable,
  proven,
  provenLink,
  type Link,
  linkKey,
  type LinkState,
  type TunnelHealth,
} from './link.js';
import { type Source, SourceGuard } from './guard.js';
import {
  BROADCAST_KEY,
  type ControlMessage,
  decodeControlMessage,
  isBroadcastKey,
  maxMessageBytes,
  type TunnelMessage,
  verifyControlMessage,
} from './messages.js';

export type { Action, LinkState, Link, OutMessage, TunnelHealth } from './link.js';
export { ALL_ONES_V6_MULTICAST, ControlCounters, linkKey } from './link.js';
export type { Source } from './guard.js';

export interface CoreOptions {
  backend: CryptoBackend;
  publicKey: Uint8Array;
  /** Injected randomness (the shell passes crypto.randomBytes). */
  random: (n: number) => Uint8Array;
  helloIntervalMs: number;
  maxNeighbors: number;
  neighborTimeoutMs: number;
  /** Keys the operator configured (weight or rate): their links are never displaced. Default: none. */
  isConfigured?: (pkB64: string) => boolean;
  /** Control port of every node. */
  port: number;
  /** Unicast hello targets (in addition to ff02::1 on every interface). */
  peers?: Array<{ addr: SockAddr; iface: string }>;
  /** Replay floors of links seen before (restored by the shell); default: a fresh, empty table. */
  floors?: SeqFloors;
}

export class ControlCore {
  readonly links = new Map<string, Link>();
  readonly counters = new ControlCounters();
  /** Highest seq per recently seen link, kept after the link is gone (and across restarts, by the shell). */
  readonly floors: SeqFloors;
  private readonly opts: CoreOptions;
  /** Up interfaces; `firstHello` until an interface's first hello went out (then it joins the rounds). */
  private readonly up = new Map<string, { firstHello: boolean }>();
  /**
   * Hellos go out in rounds: every up interface in the same tick, every interval ± jitter. The
   * neighbours' confirms then arrive together and are read in one batch: a hub's idle cost does
   * not grow by a wake-up per interface.
   */
  private nextHelloRoundMs = 0;
  private readonly guard: SourceGuard;
  private nextPeerHelloMs = 0;
  private peerBurst = 0;

  constructor(opts: CoreOptions) {
    this.opts = opts;
    this.floors = opts.floors ?? new SeqFloors(LIMITS.seqFloorLinks);
    this.guard = new SourceGuard(opts.peers ?? [], opts.neighborTimeoutMs);
  }

  get publicKey(): Uint8Array {
    return this.opts.publicKey;
  }

  // --- interfaces -------------------------------------------------------------------------

  /** A mesh interface came up (or was found at start): hello on it at once. */
  interfaceUp(iface: string, nowMs: number): Action[] {
    if (this.up.has(iface)) return [];
    this.up.set(iface, { firstHello: true });
    return [
      { kind: 'log', level: 'info', msg: 'mesh interface up', fields: { iface } },
      ...this.tick(nowMs, () => undefined),
    ];
  }

  /** A mesh interface went down or away: its links and tunnels go with it. */
  interfaceDown(iface: string, reason: string): Action[] {
    if (!this.up.delete(iface)) return [];
    const out: Action[] = [{ kind: 'log', level: 'info', msg: 'mesh interface down', fields: { iface, reason } }];
    for (const l of [...this.links.values()])
      if (l.iface === iface) out.push(...this.removeLink(l, `interface ${iface} ${reason}`));
    return out;
  }

  isUp(iface: string): boolean {
    return this.up.has(iface);
  }

  // --- what the shell reports -------------------------------------------------------------

  /** A datagram arrived on an interface that is not a mesh interface (dropped by the shell). */
  notMesh(): void {
    this.counters.rxDatagrams++;
    this.counters.dropNotMesh++;
  }

  /** A control message left. */
  sent(): void {
    this.counters.txMessages++;
  }

  /** The data plane moved a link's tunnel endpoint (an authenticated packet from a new address). */
  endpointMoved(linkKeyStr: string, endpoint: SockAddr): void {
    const l = this.links.get(linkKeyStr);
    if (l) l.endpoint = endpoint;
  }

  // --- receive ----------------------------------------------------------------------------

  /** One datagram from the control socket. Never throws. */
  onDatagram(bytes: Uint8Array, from: Source, nowMs: number): Action[] {
    return this.limitAmplification(this.receive(bytes, from, nowMs), nowMs);
  }

  private receive(bytes: Uint8Array, from: Source, nowMs: number): Action[] {
    const c = this.counters;
    c.rxDatagrams++;
    try {
      if (!this.up.has(from.iface)) {
        c.dropNotMesh++;
        return [];
      }
      if (!this.guard.answerable(from)) {
        c.dropNotLinkLocal++;
        return [];
      }
      // only sources we may answer get an entry: a flood of other sources cannot evict their credit
      this.guard.credit(from, bytes.length, nowMs);
      let msg: ControlMessage;
      try {
        msg = decodeControlMessage(bytes);
      } catch (e) {
        c.dropDecode++;
        const code = isScroogeError(e) ? e.code : 'ERR_UNKNOWN';
        c.decodeErrors[code] = (c.decodeErrors[code] ?? 0) + 1;
        return [];
      }
      if (bytesEqual(msg.srcPK, this.opts.publicKey)) {
        c.dropFromSelf++;
        return [];
      }
      const broadcastOk = msg.type === 'scrooge_hello' && isBroadcastKey(msg.dstPK);
      if (!broadcastOk && !bytesEqual(msg.dstPK, this.opts.publicKey)) {
        c.dropNotForUs++;
        return [];
      }
      const pkB64 = toBase64(msg.srcPK);
      const key = linkKey(pkB64, from.iface);
      let link = this.links.get(key);
      // Rejecting an old seq needs no signature: a replay costs a lookup and spends nobody's budget.
      // A link that is gone keeps its floor, so its old messages cannot bring it back.
      const floor = link ? link.highestSeq : this.floors.get(key);
      if (floor !== undefined && msg.seq <= floor) {
        c.dropOldSeq++;
        return [];
      }
      // Whose budget pays for the verification: an established link's own (a flood of other keys from
      // its address, spoofed or not, cannot spend it), everyone else's per-source bucket and the global one.
      const paid = this.guard.pay(from, link !== undefined && established(link) ? link.budget : undefined, nowMs);
      if (!paid) {
        c.dropRateLimited++;
        return [];
      }
      if (!verifyControlMessage(this.opts.backend, msg)) {
        c.dropBadSignature++;
        return [];
      }
      const out: Action[] = [];
      if (!link) {
        if (linksFrom(this.links.values(), from) >= LIMITS.linksPerSourceAddress) {
          c.dropPerSourceLimit++;
          return [
            {
              kind: 'log',
              level: 'debug',
              msg: 'too many neighbour keys from one address; ignoring another',
              fields: { neighbor: pkB64, iface: from.iface, max: LIMITS.linksPerSourceAddress },
            },
          ];
        }
        if (this.links.size >= this.opts.maxNeighbors) {
          const victim = displaceable(
            this.links.values(),
            (l) => this.opts.isConfigured?.(l.pkB64) === true || this.guard.isConfiguredPeer(l.control),
          );
          if (!victim) {
            c.dropTableFull++;
            return [
              {
                kind: 'log',
                level: 'warn',
                msg: 'neighbour table full of established or configured neighbours; ignoring a new neighbour',
                fields: { neighbor: pkB64, iface: from.iface, max: this.opts.maxNeighbors },
              },
            ];
          }
          c.displaced++;
          out.push(...this.removeLink(victim, `displaced by a newcomer (table full, ${this.opts.maxNeighbors})`));
        }
        link = {
          key,
          pk: msg.srcPK,
          pkB64,
          iface: from.iface,
          control: from.addr,
          highestSeq: msg.seq,
          lastHeardMs: nowMs,
          state: 'discovered',
          hasTunnel: false,
          retryAfterMs: 0,
          pending: undefined,
          answered: undefined,
          role: undefined,
          sessionMs: 0,
          endpoint: undefined,
          lastHandshakeMs: undefined,
          awaitingNews: false,
          setupFailures: 0,
          lastError: undefined,
          budget: TokenBucket.counting(LIMITS.perSourceMessagesPerSec, LIMITS.perSourceBurst, nowMs),
        };
        this.links.set(key, link);
        out.push({
          kind: 'log',
          level: 'info',
          msg: 'neighbour discovered',
          fields: { neighbor: pkB64, iface: from.iface, via: msg.type },
        });
      }
      link.highestSeq = msg.seq;
      this.floors.note(key, msg.seq);
      link.lastHeardMs = nowMs;
      link.control = from.addr;
      link.awaitingNews = false;
      c.rxAccepted++;
      switch (msg.type) {
        case 'scrooge_hello':
          out.push({
            kind: 'send',
            iface: from.iface,
            to: from.addr,
            message: { type: 'scrooge_hello_confirm', dstPK: msg.srcPK },
            link: link.key,
          });
          out.push(...this.maybeStart(link, nowMs, 'neighbour discovered'));
          break;
        case 'scrooge_hello_confirm':
          out.push(...this.maybeStart(link, nowMs, 'neighbour discovered'));
          break;
        case 'scrooge_tunnel':
          out.push(...this.onTunnel(link, msg, from, nowMs));
          break;
        case 'scrooge_tunnel_confirm':
          out.push(...this.onTunnelConfirm(link, msg, from, nowMs));
          break;
      }
      return out;
    } catch (e) {
      return [
        { kind: 'log', level: 'warn', msg: 'control message handling failed', fields: { error: (e as Error).message } },
      ];
    }
  }

  private onTunnel(link: Link, msg: TunnelMessage, from: Source, nowMs: number): Action[] {
    // Crossing initiations: the lower srcPK wins.
    if (link.pending && compareBytes(this.opts.publicKey, link.pk) < 0) {
      this.counters.crossingsWon++;
      return [
        {
          kind: 'log',
          level: 'debug',
          msg: 'crossing initiation: ours wins, theirs ignored',
          fields: { neighbor: link.pkB64, iface: link.iface },
        },
      ];
    }
    const out: Action[] = [];
    if (link.pending) {
      link.pending = undefined;
      out.push({
        kind: 'log',
        level: 'debug',
        msg: 'crossing initiation: theirs wins, ours abandoned',
        fields: { neighbor: link.pkB64, iface: link.iface },
      });
    }
    const endpoint: SockAddr = { ...from.addr, port: msg.endpoint.port };
    link.endpoint = endpoint;
    if (link.answered && bytesEqual(link.answered.peerTunnelPK, msg.tunnelPK)) {
      // A retransmission: our confirm was lost. Same answer, nothing new installed.
      out.push(this.confirmTo(link, from, link.answered.mine.publicKey));
      return out;
    }
    if (!this.ensureTunnel(link, nowMs, out)) return out;
    const mine = tunnelKeyPair(this.opts.backend, this.opts.random(32));
    let keys: SessionKeys;
    try {
      keys = deriveSessionKeys(this.opts.backend, mine, msg.tunnelPK);
    } catch (e) {
      this.counters.dropBadKey++;
      return [
        ...out,
        {
          kind: 'log',
          level: 'warn',
          msg: 'unusable tunnel key from neighbour',
          fields: { neighbor: link.pkB64, error: (e as Error).message },
        },
      ];
    }
    link.answered = { peerTunnelPK: msg.tunnelPK, mine };
    link.role = 'responder';
    link.sessionMs = nowMs;
    out.push({ kind: 'install', link: link.key, keys, role: 'responder', endpoint });
    out.push(this.confirmTo(link, from, mine.publicKey));
    if (link.state !== 'up') out.push(...this.setState(link, 'negotiating', 'answered scrooge_tunnel'));
    return out;
  }

  private onTunnelConfirm(link: Link, msg: TunnelMessage, from: Source, nowMs: number): Action[] {
    const p = link.pending;
    if (!p) {
      this.counters.confirmsWithoutAttempt++;
      return [];
    }
    let keys: SessionKeys;
    try {
      keys = deriveSessionKeys(this.opts.backend, p.keyPair, msg.tunnelPK);
    } catch (e) {
      this.counters.dropBadKey++;
      return [
        {
          kind: 'log',
          level: 'warn',
          msg: 'unusable tunnel key in confirm',
          fields: { neighbor: link.pkB64, error: (e as Error).message },
        },
      ];
    }
    link.pending = undefined;
    const endpoint: SockAddr = { ...from.addr, port: msg.endpoint.port };
    link.endpoint = endpoint;
    link.role = 'initiator';
    link.sessionMs = nowMs;
    // Not up yet: the data plane probes the session, and the link is up when the peer's answer
    // authenticates on it (tick). Until then the current session, if any, carries the traffic.
    return [
      { kind: 'install', link: link.key, keys, role: 'initiator', endpoint },
      {
        kind: 'log',
        level: 'debug',
        msg: 'tunnel confirmed; probing the session',
        fields: { neighbor: link.pkB64, iface: link.iface, ms: Math.round(nowMs - p.startedMs) },
      },
    ];
  }

  private confirmTo(link: Link, from: Source, myTunnelPK: Uint8Array): Action {
    return {
      kind: 'send',
      iface: from.iface,
      to: from.addr,
      message: { type: 'scrooge_tunnel_confirm', dstPK: link.pk, tunnelPK: myTunnelPK, link: link.key },
    };
  }

  // --- negotiation ------------------------------------------------------------------------

  /** Starts an initiation if the link has no tunnel session and none is under way. */
  private maybeStart(link: Link, nowMs: number, reason: string): Action[] {
    if (link.pending || link.state === 'up' || link.state === 'negotiating') return [];
    return this.startInitiation(link, nowMs, reason);
  }

  private startInitiation(link: Link, nowMs: number, reason: string): Action[] {
    if (nowMs < link.retryAfterMs) return [];
    const out: Action[] = [];
    if (!this.ensureTunnel(link, nowMs, out)) return out;
    link.pending = {
      keyPair: tunnelKeyPair(this.opts.backend, this.opts.random(32)),
      attempts: 0,
      nextSendMs: nowMs,
      startedMs: nowMs,
    };
    if (link.state !== 'up') out.push(...this.setState(link, 'negotiating', reason));
    out.push(...this.sendPending(link, nowMs));
    return out;
  }

  private sendPending(link: Link, nowMs: number): Action[] {
    const p = link.pending;
    if (!p || nowMs < p.nextSendMs) return [];
    if (p.attempts >= LIMITS.tunnelMaxAttempts) {
      // nobody answers there (a spoofed source, a neighbour gone): stop until it speaks again
      link.pending = undefined;
      link.awaitingNews = true;
      this.counters.attemptsAbandoned++;
      return this.setState(link, 'down', `no answer to ${p.attempts} scrooge_tunnel`);
    }
    p.attempts++;
    p.nextSendMs = nowMs + Math.min(LIMITS.tunnelRetryInitialMs * 2 ** (p.attempts - 1), LIMITS.tunnelRetryMaxMs);
    return [
      {
        kind: 'send',
        iface: link.iface,
        to: link.control,
        message: { type: 'scrooge_tunnel', dstPK: link.pk, tunnelPK: p.keyPair.publicKey, link: link.key },
      },
    ];
  }

  private ensureTunnel(link: Link, nowMs: number, out: Action[]): boolean {
    if (link.hasTunnel) return true;
    if (nowMs < link.retryAfterMs) return false;
    link.hasTunnel = true;
    out.push({ kind: 'ensureTunnel', link: link.key, peer: link.pk, iface: link.iface, family: link.control.family });
    return true;
  }

  /**
   * The shell could not create the link's tunnel (TUN device, socket) or it
   * failed later. Retried after deviceRetryMs, doubling; after
   * deviceMaxAttempts failures in a row the link stays down with the reason
   * (a name held by a foreign device, a missing permission) until it is
   * removed and discovered again or the daemon restarts.
   */
  tunnelFailed(linkKeyStr: string, nowMs: number, error: string, errno?: unknown): Action[] {
    const link = this.links.get(linkKeyStr);
    if (!link) return [];
    link.hasTunnel = false;
    link.pending = undefined;
    link.answered = undefined;
    link.setupFailures++;
    link.lastError = typeof errno === 'string' ? `${error} [${errno}]` : error;
    if (link.setupFailures >= LIMITS.deviceMaxAttempts) {
      link.retryAfterMs = Number.POSITIVE_INFINITY;
      this.counters.setupGivenUp++;
      return [
        {
          kind: 'log',
          level: 'warn',
          msg: 'tunnel setup failed again; giving up on this neighbour until it comes back',
          fields: { neighbor: link.pkB64, iface: link.iface, error: link.lastError, attempts: link.setupFailures },
        },
        ...this.setState(link, 'down', `tunnel setup failed ${link.setupFailures} times`),
      ];
    }
    const retryMs = LIMITS.deviceRetryMs * 2 ** (link.setupFailures - 1);
    link.retryAfterMs = nowMs + retryMs;
    return [
      {
        kind: 'log',
        level: 'warn',
        msg: 'tunnel setup failed; will retry',
        fields: { neighbor: link.pkB64, iface: link.iface, error: link.lastError, retryMs },
      },
      ...this.setState(link, 'down', 'tunnel setup failed'),
    ];
  }

  private setState(link: Link, to: LinkState, reason: string): Action[] {
    if (link.state === to) return [];
    const from = link.state;
    link.state = to;
    return [{ kind: 'state', link: link.key, from, to, reason }];
  }

  private removeLink(link: Link, reason: string): Action[] {
    this.links.delete(link.key);
    const out: Action[] = [];
    if (link.hasTunnel) out.push({ kind: 'closeTunnel', link: link.key, reason });
    out.push({
      kind: 'log',
      level: 'info',
      msg: 'neighbour removed',
      fields: { neighbor: link.pkB64, iface: link.iface, reason },
    });
    return out;
  }

  // --- timers -----------------------------------------------------------------------------

  /**
   * The one timer: hellos, retransmissions, rekeys, dead tunnels, silent
   * neighbours. `health` reports each link's tunnel (undefined: no tunnel).
   */
  tick(nowMs: number, health: (link: string) => TunnelHealth | undefined): Action[] {
    return this.limitAmplification(this.timers(nowMs, health), nowMs);
  }

  private timers(nowMs: number, health: (link: string) => TunnelHealth | undefined): Action[] {
    const out: Action[] = [];
    const round = nowMs >= this.nextHelloRoundMs;
    if (round) this.nextHelloRoundMs = nowMs + this.jittered();
    for (const [iface, st] of this.up) {
      if (!round && !st.firstHello) continue;
      st.firstHello = false;
      out.push({
        kind: 'send',
        iface,
        to: { family: 6, address: ALL_ONES_V6_MULTICAST, port: this.opts.port, scopeId: 0 },
        message: { type: 'scrooge_hello', dstPK: BROADCAST_KEY },
      });
    }
    if (nowMs >= this.nextPeerHelloMs && (this.opts.peers?.length ?? 0) > 0) {
      for (const p of this.opts.peers ?? []) {
        if (p.iface === '' || this.up.has(p.iface)) {
          out.push({
            kind: 'send',
            iface: p.iface,
            to: p.addr,
            message: { type: 'scrooge_hello', dstPK: BROADCAST_KEY },
          });
        }
      }
      const burst = LIMITS.helloBurstMs[this.peerBurst];
      this.peerBurst++;
      this.nextPeerHelloMs =
        nowMs + (burst !== undefined ? Math.min(burst, this.opts.helloIntervalMs) : this.jittered());
    }
    for (const link of [...this.links.values()]) {
      const h = link.hasTunnel ? health(link.key) : undefined;
      // silent neighbour: nothing heard for the timeout and no live tunnel
      if (nowMs - link.lastHeardMs >= this.opts.neighborTimeoutMs && (h === undefined || h.dead || !h.hasCurrent)) {
        out.push(...this.removeLink(link, `silent for ${Math.round((nowMs - link.lastHeardMs) / 1000)} s`));
        continue;
      }
      if (h?.hasCurrent && link.state === 'negotiating' && !link.pending) {
        // a session became current: the peer's first packet on it authenticated
        link.lastHandshakeMs = nowMs;
        link.setupFailures = 0;
        link.lastError = undefined;
        this.counters.handshakes++;
        out.push(...this.setState(link, 'up', `the peer proved the session (${link.role ?? 'responder'})`));
      }
      if (
        h?.unprovenMs !== undefined &&
        h.unprovenMs >= LIMITS.probeTimeoutMs &&
        !link.pending &&
        !link.awaitingNews &&
        link.state !== 'discovered'
      ) {
        // a lost probe and answer, or a confirm for an attempt we had abandoned (keys that do not match)
        this.counters.unprovenSessions++;
        out.push({
          kind: 'log',
          level: 'info',
          msg: 'the neighbour never used the session it confirmed; negotiating again',
          fields: { neighbor: link.pkB64, iface: link.iface, ms: Math.round(h.unprovenMs) },
        });
        out.push(...this.startInitiation(link, nowMs, 'confirmed session never proven'));
        continue;
      }
      if (link.state === 'up' && h && (h.dead || !h.hasCurrent)) {
        out.push(
          ...this.setState(
            link,
            'down',
            h.dead ? `no authenticated packet for ${DEAD_AFTER_MS / 1000} s` : 'no usable session',
          ),
        );
        link.answered = undefined;
        out.push(...this.startInitiation(link, nowMs, 'renegotiating'));
        continue;
      }
      if (link.pending) {
        out.push(...this.sendPending(link, nowMs));
        continue;
      }
      if (link.state === 'up' && link.role !== undefined) {
        const age = nowMs - link.sessionMs;
        const due = link.role === 'initiator' ? REKEY_AFTER_MS : REKEY_AFTER_MS + LIMITS.responderRekeySlackMs;
        if (age >= due) out.push(...this.startInitiation(link, nowMs, 'rekey'));
        else if (h?.rekeyDue) out.push(...this.startInitiation(link, nowMs, 'rekey (message count)'));
        continue;
      }
      if ((link.state === 'discovered' || link.state === 'down') && nowMs >= link.retryAfterMs && !link.awaitingNews) {
        out.push(
          ...this.startInitiation(link, nowMs, link.state === 'down' ? 'renegotiating' : 'neighbour discovered'),
        );
      } else if (link.state === 'negotiating' && !link.pending && nowMs - link.sessionMs > DEAD_AFTER_MS) {
        // we answered but the initiator never used the session: start over ourselves
        link.answered = undefined;
        out.push(...this.setState(link, 'down', 'answered session never used'));
      }
    }
    this.guard.prune(nowMs);
    return out;
  }

  /**
   * How long the shell may wait before the next tick: LIMITS.tickMs while
   * anything is negotiated or a first hello is due, otherwise until the next
   * hello round, rekey or neighbour timeout, at most LIMITS.idleTickMs.
   */
  nextTickInMs(nowMs: number): number {
    const fast = LIMITS.tickMs;
    if (this.peerBurst < LIMITS.helloBurstMs.length && (this.opts.peers?.length ?? 0) > 0) return fast;
    for (const st of this.up.values()) if (st.firstHello) return fast;
    let due = this.nextHelloRoundMs;
    if ((this.opts.peers?.length ?? 0) > 0) due = Math.min(due, this.nextPeerHelloMs);
    for (const l of this.links.values()) {
      if (l.state !== 'up' || l.pending) return fast;
      due = Math.min(due, l.lastHeardMs + this.opts.neighborTimeoutMs);
      if (l.role !== undefined) {
        const rekey = l.role === 'initiator' ? REKEY_AFTER_MS : REKEY_AFTER_MS + LIMITS.responderRekeySlackMs;
        due = Math.min(due, l.sessionMs + rekey);
      }
    }
    return Math.max(fast, Math.min(LIMITS.idleTickMs, due - nowMs));
  }

  private jittered(): number {
    const r = this.opts.random(2);
    const u = (((r[0] as number) << 8) | (r[1] as number)) / 65535; // 0..1
    return this.opts.helloIntervalMs * (1 + PROTOCOL.helloJitter * (2 * u - 1));
  }

  // --- anti-amplification ------------------------------------------------------------------

  /**
   * The last step of every entry point: a unicast send to an address that has
   * not completed a handshake goes only within the guard's amplification
   * budget (3x what it sent us); otherwise it is withheld (counted).
   */
  private limitAmplification(actions: Action[], nowMs: number): Action[] {
    if (!actions.some((a) => a.kind === 'send')) return actions;
    const out: Action[] = [];
    for (const a of actions) {
      if (
        a.kind !== 'send' ||
        isMulticast6(a.to) ||
        this.guard.isConfiguredPeer(a.to) ||
        this.provenTo(a.iface, a.to, a.link ?? ('link' in a.message ? a.message.link : undefined))
      ) {
        out.push(a);
        continue;
      }
      if (this.guard.allowSend(a.iface, a.to, maxMessageBytes(a.message.type), nowMs)) out.push(a);
      else this.counters.txWithheldAmplification++;
    }
    return out;
  }

  /** Some link that is up speaks from `to` on `iface`: the link a message is for first (O(1)), then all. */
  private provenTo(iface: string, to: SockAddr, hint: string | undefined): boolean {
    const l = hint === undefined ? undefined : this.links.get(hint);
    return (l !== undefined && provenLink(l, iface, to)) || proven(this.links.values(), iface, to);
  }

  /** Links for status output. */
  snapshot(): Link[] {
    return [...this.links.values()];
  }
}
