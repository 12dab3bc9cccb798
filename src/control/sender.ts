/**
 * Signing and sending the control messages the core asks for: the next seq,
 * the endpoint a tunnel message carries (our address on the interface and the
 * link's tunnel port). Every message, hellos of one round included, has its
 * own seq and signature: DESIGN.md has a receiver accept only a seq above the
 * highest it saw from the neighbour, and a neighbour that hears us on two
 * interfaces must not see the same seq twice.
 */
import type { Identity } from '../../crypto/index.js';
import type { Logger } from '../../dataplane/log.js';
import { formatIPv6, formatSockaddr, type SockAddr } from '../../dataplane/sockaddr.js';
import type { IfaceInfo } from '../interfaces.js';
import type { OutMessage } from './link.js';
import { type ControlFields, encodeControlMessage } from './messages.js';
import type { SeqSource } from './seq.js';
import type { ControlSocket } from './socket.js';

export interface SenderParts {
  identity: Identity;
  seq: SeqSource;
  log: Logger;
  /** The control socket (undefined before start and after stop). */
  socket: () => ControlSocket | undefined;
  /** A mesh interface as last read; undefined if it is not there. */
  iface: (name: string) => IfaceInfo | undefined;
  /** The UDP port of a link's tunnel; undefined if it has none. */
  tunnelPort: (link: string) => number | undefined;
  /** Called after each message that left. */
  sent: () => void;
}

export class ControlSender {
  constructor(private readonly p: SenderParts) {}

  send(iface: string, to: SockAddr, m: OutMessage): void {
    const sock = this.p.socket();
    if (!sock) return;
    const info = iface === '' ? undefined : this.p.iface(iface);
    if (iface !== '' && !info) return;
    const bytes = this.encode(m, to, info);
    if (bytes === undefined) return;
    if (sock.send(bytes, to, info?.ifindex ?? 0)) this.p.sent();
    else this.p.log.debug('control send failed', { iface, to: formatSockaddr(to, iface), errno: sock.lastSendError });
  }

  /** Signs a control message (with the next seq); undefined if it cannot be sent. */
  private encode(m: OutMessage, to: SockAddr, info: IfaceInfo | undefined): Buffer | undefined {
    let seq: bigint;
    try {
      seq = this.p.seq.next(BigInt(Date.now()) * 1000n);
    } catch (e) {
      this.p.log.error('cannot persist the sequence floor; not sending', { error: (e as Error).message });
      return undefined;
    }
    let fields: ControlFields;
    if (m.type === 'scrooge_tunnel' || m.type === 'scrooge_tunnel_confirm') {
      const port = this.p.tunnelPort(m.link);
      if (port === undefined) return undefined;
      const family = to.family;
      const host =
        family === 6
          ? formatIPv6(info?.linkLocal ?? new Uint8Array(16))
          : info?.ipv4
            ? `${info.ipv4.join('.')}`
            : '0.0.0.0';
      fields = { type: m.type, dstPK: m.dstPK, seq, tunnelPK: m.tunnelPK, endpoint: { host, port, family } };
    } else {
      fields = { type: m.type, dstPK: m.dstPK, seq };
    }
    return Buffer.from(encodeControlMessage(fields, this.p.identity), 'latin1');
  }
}
