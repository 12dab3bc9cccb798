/**
 * The tunnel registry: every link's tunnel and every mesh interface's tunnel
 * socket, the accounting book they fold into, and the one way a tunnel goes
 * (teardown). The daemon asks it for a tunnel when the control core says so
 * and hears back through RegistryEvents; traffic control, the filter and
 * babeld are told here when a tunnel is established and when it goes.
 */
import { LIMITS, MTU } from '../base/constants.js';
import { isScroogeError } from '../base/errors.js';
import { toBase64 } from '../crypto/index.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { TunnelSocket } from '../dataplane/endpoint.js';
import type { InterfaceAddress } from '../dataplane/link.js';
import type { Logger } from '../dataplane/log.js';
import { tunName } from '../dataplane/names.js';
import { tunnelMtu } from '../dataplane/packet.js';
import type { SockAddr } from '../dataplane/sockaddr.js';
import type { NeighborTc, TrafficControl } from '../dataplane/tc/stage.js';
import { AccountingBook } from './accounting.js';
import type { BabelClient } from './babel.js';
import type { ForwardingFilter } from './filter.js';
import type { LinkTunnel } from './views.js';

export interface RegistryOptions {
  dp: Dataplane;
  tc: TrafficControl;
  filter: ForwardingFilter;
  log: Logger;
  /** UDP port of each interface's tunnel socket (0: any). */
  tunnelPort: number;
  tunPrefix: string;
  /** --mtu, or undefined to derive it from the underlay. */
  mtu: number | undefined;
  /** Put on every TUN device (our link-local and the node addresses). */
  addresses: InterfaceAddress[];
  /** babeld, if configured (it may connect later). */
  babel: () => BabelClient | undefined;
}

export interface RegistryEvents {
  /** The tunnel could not be set up, or failed for good (it is already torn down). */
  failed(link: string, message: string, errno: unknown): void;
  /** An authenticated packet came from a new address (roaming). */
  endpointMoved(link: string, to: SockAddr): void;
  /** A session became current: the control plane should hear it now, not at the next tick. */
  rotated(): void;
  /** A neighbour's traffic settings (weight and cap). */
  settings(pkB64: string): NeighborTc;
}

export class TunnelRegistry {
  private readonly byLink = new Map<string, LinkTunnel>();
  /** The tunnel socket of each mesh interface, shared by its tunnels (opened with the first one). */
  private readonly sockets = new Map<string, TunnelSocket>();
  private readonly book = new AccountingBook(LIMITS.accountingMaxKeys);
  private readonly o: RegistryOptions;
  private readonly events: RegistryEvents;

  constructor(o: RegistryOptions, events: RegistryEvents) {
    this.o = o;
    this.events = events;
  }

  get(link: string): LinkTunnel | undefined {
    return this.byLink.get(link);
  }

  all(): IterableIterator<LinkTunnel> {
    return this.byLink.values();
  }

  entries(): IterableIterator<[string, LinkTunnel]> {
    return this.byLink.entries();
  }

  /** The tunnels to a neighbour (one per interface it is seen on). */
  ofKey(pkB64: string): LinkTunnel[] {
    return [...this.byLink.values()].filter((lt) => lt.pk === pkB64);
  }

  /** Each interface's tunnel socket. */
  socketList(): Array<[string, TunnelSocket]> {
    return [...this.sockets];
  }

  /**
   * A link's tunnel: a TunnelCore on the interface's shared socket. Its TUN
   * device, traffic-control queues and nftables element come only when it is
   * established (the peer authenticated a packet).
   */
  ensure(link: string, peer: Uint8Array, iface: string, family: 4 | 6, underlayMtu: number | undefined): void {
    if (this.byLink.has(link)) return;
    const o = this.o;
    const name = tunName(o.tunPrefix, peer, iface);
    const mtu = Math.min(o.mtu ?? tunnelMtu(underlayMtu ?? MTU.underlayDefault, family), o.dp.maxMtu);
    const pk = toBase64(peer);
    try {
      const tunnel = o.dp.createTunnel({
        name,
        mtu,
        socket: this.socketFor(iface),
        addresses: o.addresses,
        onFailure: (t, err) => {
          if (this.byLink.get(link)?.tunnel !== t) return;
          this.teardown(link, err.message);
          this.events.failed(link, err.message, err.detail?.errno);
        },
        onEndpointChange: (_t, sa) => this.events.endpointMoved(link, sa),
        onEstablished: (t) => {
          o.tc.attach(t, this.events.settings(pk));
          void o.filter.addTunnel(name);
          o.log.info('tunnel device created', { tun: name, iface, mtu, neighbor: pk, port: t.udpPort });
        },
        onRotation: () => this.events.rotated(),
      });
      this.byLink.set(link, { tunnel, name, iface, lastHandshakeWall: null, pk, family });
    } catch (e) {
      const err = isScroogeError(e) ? e : undefined;
      this.events.failed(link, err?.message ?? String(e), err?.detail?.errno);
    }
  }

  /**
   * The one way a link's tunnel goes (closed by the core, or failed): its
   * accounting folded, traffic control detached, the tunnel closed (its
   * device with it), and babeld and the filter told if it was established.
   */
  teardown(link: string, reason: string): void {
    const lt = this.byLink.get(link);
    if (!lt) return;
    this.byLink.delete(link);
    this.book.fold(lt, true);
    this.o.tc.detach(lt.tunnel);
    const had = lt.tunnel.established;
    lt.tunnel.close();
    if (had) {
      this.o.babel()?.interfaceDown(lt.name);
      void this.o.filter.removeTunnel(lt.name);
    }
    this.o.log.info('tunnel closed', { tun: lt.name, reason, established: had });
  }

  /** Closes an interface's tunnel socket (its links are gone: the interface went down). */
  closeSocket(iface: string): void {
    const s = this.sockets.get(iface);
    if (!s) return;
    this.sockets.delete(iface);
    s.close();
  }

  /** Folds every tunnel's counters into the accounting book and reads it. */
  accounting(reset: boolean): ReturnType<AccountingBook['read']> {
    this.fold();
    return this.book.read(reset);
  }

  /** Folds every tunnel's counters into the book (before a read; a tunnel that goes is folded then). */
  private fold(): void {
    for (const lt of this.byLink.values()) this.book.fold(lt);
  }

  /** At stop: babeld forgets every tunnel (the data plane closes them all at once). */
  forgetAll(): void {
    for (const lt of this.byLink.values()) this.o.babel()?.interfaceDown(lt.name);
    this.byLink.clear();
  }

  private socketFor(iface: string): TunnelSocket {
    const open = this.sockets.get(iface);
    if (open && !open.closed) return open;
    const s = this.o.dp.openSocket({
      port: this.o.tunnelPort,
      device: iface,
      onFailure: (sock, err) => {
        if (this.sockets.get(iface) === sock) this.sockets.delete(iface);
        this.o.log.error('tunnel socket failed; its tunnels are renegotiated', { iface, error: err.message });
      },
    });
    this.sockets.set(iface, s);
    this.o.log.info('tunnel socket open', { iface, port: s.port, gso: s.gso, gro: s.gro });
    return s;
  }
}
