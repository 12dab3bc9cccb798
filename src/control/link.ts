/**
 * The control core's records: a link (a neighbour key on one mesh interface)
 * and its states, the actions the core returns to the shell, what the data
 * plane reports about a link's tunnel, and the core's counters.
 */
import { bytesEqual, type SessionKeys, type TunnelKeyPair } from '../../crypto/index.js';
import type { Source } from './guard.js';
import type { SockAddr } from '../../dataplane/sockaddr.js';
import type { TokenBucket } from '../../dataplane/tc/bucket.js';

export type LinkState = 'discovered' | 'negotiating' | 'up' | 'down';

/** A control message the shell must sign (assigning seq) and send. */
export type OutMessage =
  | { type: 'scrooge_hello' | 'scrooge_hello_confirm'; dstPK: Uint8Array }
  /** The shell fills in the endpoint: our address on `iface` and the link's tunnel port. */
  | { type: 'scrooge_tunnel' | 'scrooge_tunnel_confirm'; dstPK: Uint8Array; tunnelPK: Uint8Array; link: string };

export type Action =
  /**
   * link: the link the message answers, if any. The amplification guard checks it first; a hello's
   * confirm names the link whose hello was just accepted (the shell sends that tunnel's keepalive
   * with it if one would fall due before the neighbour's next hello).
   */
  | { kind: 'send'; iface: string; to: SockAddr; message: OutMessage; link?: string }
  | { kind: 'ensureTunnel'; link: string; peer: Uint8Array; iface: string; family: 4 | 6 }
  | { kind: 'install'; link: string; keys: SessionKeys; role: 'initiator' | 'responder'; endpoint: SockAddr }
  | { kind: 'closeTunnel'; link: string; reason: string }
  | { kind: 'state'; link: string; from: LinkState; to: LinkState; reason: string }
  | { kind: 'log'; level: 'debug' | 'info' | 'warn'; msg: string; fields: Record<string, string | number> };

/** What the data plane says about a link's tunnel (polled every tick). */
export interface TunnelHealth {
  /** The tunnel has a current session it can send with. */
  hasCurrent: boolean;
  /** No authenticated packet for DEAD_AFTER_MS. */
  dead: boolean;
  /** Age of a session we initiated and the peer has not used yet (ms); -1 or absent: none. */
  unprovenMs?: number;
  /** We sent REKEY_AFTER_MESSAGES on the current session: rekey now (either role). */
  rekeyDue?: boolean;
}

export interface Pending {
  keyPair: TunnelKeyPair;
  attempts: number;
  nextSendMs: number;
  startedMs: number;
}

export interface Link {
  readonly key: string;
  readonly pk: Uint8Array;
  readonly pkB64: string;
  readonly iface: string;
  control: SockAddr;
  highestSeq: bigint;
  lastHeardMs: number;
  state: LinkState;
  hasTunnel: boolean;
  /** A failed device setup is not retried before this time. */
  retryAfterMs: number;
  pending: Pending | undefined;
  /** Our last answer as responder (to answer a retransmission identically). */
  answered: { peerTunnelPK: Uint8Array; mine: TunnelKeyPair } | undefined;
  /** Our role in the newest session and when it was made. */
  role: 'initiator' | 'responder' | undefined;
  sessionMs: number;
  /** Peer's tunnel endpoint. */
  endpoint: SockAddr | undefined;
  /** Wall-clock-free time of the last completed handshake (ms, core clock). */
  lastHandshakeMs: number | undefined;
  /** An initiation went unanswered tunnelMaxAttempts times: start again only after a new authenticated message. */
  awaitingNews: boolean;
  /** Consecutive failed tunnel setups (reset when the tunnel comes up). */
  setupFailures: number;
  /** Why the last tunnel setup failed, if it did. */
  lastError: string | undefined;
  /** Once established: the link's own message budget (token bucket), apart from its source address's. */
  budget: TokenBucket;
}

/** A link that has completed a handshake: its messages are paid from its own budget. */
export function established(l: Link): boolean {
  return l.state === 'up' || l.lastHandshakeMs !== undefined;
}

export const ALL_ONES_V6_MULTICAST = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

export function isMulticast6(a: SockAddr): boolean {
  return a.family === 6 && a.address[0] === 0xff;
}

export function linkKey(pkB64: string, iface: string): string {
  return `${pkB64}|${iface}`;
}

/** Counters of the control plane (for status and metrics). */
export class ControlCounters {
  rxDatagrams = 0;
  rxAccepted = 0;
  dropRateLimited = 0;
  dropDecode = 0;
  dropNotMesh = 0;
  dropFromSelf = 0;
  dropNotForUs = 0;
  dropBadSignature = 0;
  dropOldSeq = 0;
  /** New neighbours refused: the table is full of established or configured links. */
  dropTableFull = 0;
  /** Links removed to make room for a newcomer (never-completed, longest silent first). */
  displaced = 0;
  /** New keys refused: their source address already has linksPerSourceAddress links. */
  dropPerSourceLimit = 0;
  dropBadKey = 0;
  crossingsWon = 0;
  confirmsWithoutAttempt = 0;
  /** From a non-link-local source the operator did not name with --peer: never answered. */
  dropNotLinkLocal = 0;
  /** Sends withheld: the address has not completed a handshake and got 3× what it sent us. */
  txWithheldAmplification = 0;
  /** Initiations abandoned after tunnelMaxAttempts unanswered scrooge_tunnel. */
  attemptsAbandoned = 0;
  /** Sessions a confirm gave us that the peer never used within probeTimeoutMs (negotiated again). */
  unprovenSessions = 0;
  /** Links whose tunnel setup failed deviceMaxAttempts times in a row (not retried until they come back). */
  setupGivenUp = 0;
  txMessages = 0;
  /** Keepalives the shell sent early, with a neighbour's hello (they would have fallen due before its next). */
  keepalivesWithHello = 0;
  handshakes = 0;
  decodeErrors: Record<string, number> = {};
}

// --- queries over the neighbour table -----------------------------------------------------------

/** Links whose control messages come from this source (one host with many keys). */
export function linksFrom(links: Iterable<Link>, from: Source): number {
  let n = 0;
  for (const l of links) if (l.iface === from.iface && bytesEqual(l.control.address, from.addr.address)) n++;
  return n;
}

/**
 * The link a newcomer may displace when the table is full: one that never
 * completed a handshake (it has carried no data) and that the operator did
 * not configure (a key with a weight or rate, a --peer address), the one
 * silent longest. Established links are never displaced: a newcomer is then
 * refused (dropTableFull).
 */
export function displaceable(links: Iterable<Link>, configured: (l: Link) => boolean): Link | undefined {
  let best: Link | undefined;
  for (const l of links) {
    if (l.state === 'up' || l.lastHandshakeMs !== undefined) continue;
    if (configured(l)) continue;
    if (best === undefined || l.lastHeardMs < best.lastHeardMs) best = l;
  }
  return best;
}

/** Has a link at this address completed a handshake (the address answered with its key)? */
export function proven(links: Iterable<Link>, iface: string, a: SockAddr): boolean {
  for (const l of links) if (provenLink(l, iface, a)) return true;
  return false;
}

/** This link is up and its neighbour speaks from `a` on `iface`. */
export function provenLink(l: Link, iface: string, a: SockAddr): boolean {
  return l.iface === iface && l.state === 'up' && bytesEqual(l.control.address, a.address);
}
