/**
 * `scrooge up`: the shell around the pure cores.
 *
 *   interfaces ──poll 250 ms──▶ ControlCore.interfaceUp/Down ─┐
 *   control socket ──datagram──▶ ControlCore.onDatagram ──────┼─▶ actions ─▶ run()
 *   tick 250 ms ──tunnel health──▶ ControlCore.tick ──────────┘      │
 *                                                                     ├─ send: sign (seq), fill endpoint, sendto
 *   run():                                                            ├─ ensureTunnel: a Tunnel on the interface's
 *                                                                     │  shared socket (its TUN device comes when
 *                                                                     │  it is established: onEstablished)
 *                                                                     ├─ install: session keys (make-before-break)
 *                                                                     ├─ closeTunnel: teardown()
 *                                                                     └─ state/log: logs, babeld, API
 *
 * Everything that arrives from the network goes through pure code that
 * never throws (it drops and counts); the shell logs, and an action that
 * fails anyway is logged and contained (run()).
 */
import { MTU, PROTOCOL } from '../base/constants.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type CryptoBackend, type Identity, selectBackend } from '../crypto/index.js';
import { linkLocalAddress, linkLocalBytes } from '../dataplane/names.js';
import type { Logger } from '../dataplane/log.js';
import { OUTER_OVERHEAD_V4 } from '../dataplane/packet.js';
import {
  formatSockaddr,
  isLinkLocal6,
  parseIPv4,
  parseIPv6,
  sameSockaddr,
  type SockAddr,
} from '../dataplane/sockaddr.js';
import { TrafficControl } from '../dataplane/tc/stage.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { TunnelRegistry } from './tunnels.js';
import { AdminHandlers } from './handlers.js';
import { type ApiServers, startApi, startMetrics } from './api.js';
import { BabelClient } from './babel.js';
import type { DaemonConfig, NeighborSettings } from './config.js';
import { type Action, ControlCore, type TunnelHealth } from './control/core.js';
import { SeqSource } from './control/seq.js';
import { ControlSender } from './control/sender.js';
import { type Received, ControlSocket } from './control/socket.js';
import { type IfaceEvent, type InterfaceWatcher, MeshInterfaces, readInterfaces } from './interfaces.js';
import { loadOrCreateIdentity } from './keyfile.js';
import { LIMITS, schedulerLimits } from './limits.js';
import { ForwardingFilter } from './filter.js';
import { ForwardingSysctls } from './sysctl.js';
import { acquireLock, ensureStateDir, fileFloorStore, fileSeqStore, type StateLock } from './state.js';
import { SeqFloors, type FloorStore } from './control/floors.js';

export { VERSION } from './version.js';
export type { NeighborInfo } from './views.js';
import { VERSION } from './version.js';

export class Daemon {
  readonly cfg: DaemonConfig;
  readonly log: Logger;
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  readonly core: ControlCore;
  readonly dp: Dataplane;
  private readonly sender: ControlSender;
  /** The admin API's handlers. */
  readonly admin: AdminHandlers;
  private readonly ifaces: MeshInterfaces;
  private readonly watcher: InterfaceWatcher;
  private readonly tunnels: TunnelRegistry;
  private sock: ControlSocket | undefined;
  private api: ApiServers | undefined;
  private metricsServer: ApiServers | undefined;
  private babel: BabelClient | undefined;
  private lock: StateLock | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly floorStore: FloorStore;
  private lastFloorSave = 0;
  private readonly startedWall = Date.now();
  private stopping = false;
  private readonly ownLinkLocal: Uint8Array;
  readonly filter: ForwardingFilter;
  readonly tc: TrafficControl;
  /** Per-neighbour traffic settings by public key (config file, then `scrooge set`). */
  private readonly nbSettings = new Map<string, NeighborSettings>();
  /** The forwarding sysctls, and what --enable-forwarding changed of them. */
  private readonly sysctls: ForwardingSysctls;
  private readonly peers: Array<{ addr: SockAddr; iface: string }>;

  private constructor(cfg: DaemonConfig, log: Logger, identity: Identity, backend: CryptoBackend, lock: StateLock) {
    this.cfg = cfg;
    this.log = log;
    this.identity = identity;
    this.backend = backend;
    this.lock = lock;
    this.ownLinkLocal = linkLocalBytes(identity.publicKey);
    this.sender = new ControlSender({
      identity,
      seq: new SeqSource(fileSeqStore(cfg.stateDir)),
      log,
      socket: () => this.sock,
      iface: (name) => this.watcher.get(name),
      tunnelPort: (link) => this.tunnels.get(link)?.tunnel.udpPort,
      sent: () => this.core.sent(),
    });
    this.floorStore = fileFloorStore(cfg.stateDir, (line, why) =>
      log.warn('skipped a line of the replay floors file', { line, why }),
    );
    const floors = new SeqFloors(LIMITS.seqFloorLinks);
    floors.restore(this.floorStore.load());
    this.ifaces = new MeshInterfaces(
      cfg.interfaces,
      {
        changed: (events) => this.interfacesChanged(events),
        localAddresses: (addrs) => this.tc.local.replace(addrs),
      },
      log.child({ part: 'interfaces' }),
    );
    this.watcher = this.ifaces.watcher;
    this.peers = cfg.peers.map((p) => {
      const [host, zone] = p.split('%') as [string, string | undefined];
      const v6 = parseIPv6(host);
      const addr: SockAddr = v6
        ? { family: 6, address: v6, port: cfg.port, scopeId: 0 }
        : { family: 4, address: parseIPv4(host) as Uint8Array, port: cfg.port, scopeId: 0 };
      return { addr, iface: zone ?? '' };
    });
    this.core = new ControlCore({
      backend,
      publicKey: identity.publicKey,
      random: (n) => new Uint8Array(randomBytes(n)),
      helloIntervalMs: cfg.helloIntervalMs,
      maxNeighbors: cfg.maxNeighbors,
      neighborTimeoutMs: cfg.neighborTimeoutMs,
      port: cfg.port,
      peers: this.peers,
      // keys with a weight or rate from the config file or `scrooge set` are never displaced
      isConfigured: (pk) => this.nbSettings.has(pk),
      floors,
    });
    // Slots of the shared slabs and of traffic-control queues fit the largest tunnel MTU we will use.
    const ifaceMtu = Math.max(MTU.underlayDefault, ...[...readInterfaces(cfg.interfaces).values()].map((i) => i.mtu));
    const maxMtu = Math.min(MTU.maxDefault, Math.max(MTU.minTunnel, cfg.mtu ?? ifaceMtu - OUTER_OVERHEAD_V4));
    this.dp = new Dataplane({
      backend,
      log: log.child({ part: 'dataplane' }),
      gso: cfg.gso,
      gro: cfg.gro,
      tunOffload: cfg.tunOffload,
      fastPath: cfg.fastPath,
      maxMtu,
    });
    this.filter = new ForwardingFilter(cfg.forwarding, cfg.interfaces, log.child({ part: 'filter' }));
    this.sysctls = new ForwardingSysctls(log.child({ part: 'sysctl' }));
    for (const [pk, s] of Object.entries(cfg.neighbors)) this.nbSettings.set(pk, { ...s });
    this.tc = new TrafficControl(
      { capacityBps: cfg.capacity, share: cfg.share, algorithm: cfg.scheduler },
      schedulerLimits(this.dp.maxMtu),
      () => performance.now(),
      log.child({ part: 'tc' }),
    );
    this.tunnels = new TunnelRegistry(
      {
        dp: this.dp,
        tc: this.tc,
        filter: this.filter,
        log,
        tunnelPort: cfg.tunnelPort,
        tunPrefix: cfg.tunPrefix,
        mtu: cfg.mtu,
        addresses: [{ family: 6, address: this.ownLinkLocal, prefixLen: 64 }, ...cfg.addresses],
        babel: () => this.babel,
      },
      {
        failed: (link, message, errno) => this.run(this.core.tunnelFailed(link, performance.now(), message, errno)),
        endpointMoved: (link, sa) => this.core.endpointMoved(link, sa),
        rotated: () => this.scheduleTick(),
        settings: (pk) => this.tcFor(pk),
      },
    );
    this.admin = new AdminHandlers({
      cfg,
      log,
      identity,
      backend,
      core: this.core,
      tunnels: this.tunnels,
      tc: this.tc,
      filter: this.filter,
      sysctls: this.sysctls,
      watcher: this.watcher,
      ifaces: this.ifaces,
      startedWall: this.startedWall,
      nbSettings: this.nbSettings,
      tcFor: (pk) => this.tcFor(pk),
      sock: () => this.sock,
      babel: () => this.babel,
    });
  }

  private tcFor(pkB64: string): { weight: number; capBps: number | undefined } {
    const s = this.nbSettings.get(pkB64);
    return { weight: s?.weight ?? this.cfg.defaultWeight, capBps: s?.rate ?? undefined };
  }

  /** Starts a daemon; every failure is a ScroogeError naming what and why, with nothing left behind. */
  static async start(cfg: DaemonConfig, log: Logger): Promise<Daemon> {
    ensureStateDir(cfg.stateDir);
    const lock = acquireLock(cfg.stateDir);
    let d: Daemon | undefined;
    try {
      const sel = selectBackend(cfg.crypto);
      if (sel.fallbackReason)
        log.warn('libsodium unavailable; using the pure-JS crypto backend (about 9x slower)', {
          reason: sel.fallbackReason,
        });
      const { identity, created } = loadOrCreateIdentity(sel.backend, cfg.key);
      if (created) log.info('created a new identity key', { file: cfg.key });
      d = new Daemon(cfg, log, identity, sel.backend, lock);
      await d.startParts();
      return d;
    } catch (e) {
      if (d) await d.stop('start failed');
      else lock.release();
      throw e;
    }
  }

  private async startParts(): Promise<void> {
    const log = this.log;
    this.filter.start();
    if (this.cfg.enableForwarding) this.sysctls.enable();
    this.sock = new ControlSocket(
      this.cfg.port,
      {
        datagram: (r) => this.onDatagram(r),
        batchEnd: () => this.controlBatchEnd(),
        failure: (e) => {
          log.error('control socket failed; stopping (the forwarding filter stays in place)', { error: e.message });
          void this.stop('control socket failed', { keepFilter: true }).then(() => process.exit(1));
        },
      },
      LIMITS.controlCoalesceMs,
    );
    this.api = await startApi(this.admin, this.cfg.api, this.cfg.apiHttp, log);
    if (this.cfg.metrics) this.metricsServer = await startMetrics(this.admin, this.cfg.metrics, log);
    if (this.cfg.babel)
      this.babel = new BabelClient(
        this.cfg.babel,
        log.child({ part: 'babel' }),
        () => this.upTunnelNames(),
        this.cfg.babelInterface,
      );
    log.info('scrooge started', {
      version: VERSION,
      key: this.identity.publicKeyBase64,
      linkLocal: linkLocalAddress(this.identity.publicKey),
      interfaces: this.cfg.interfaces.join(','),
      api: this.cfg.api,
      crypto: this.backend.name,
      fastPath: this.dp.fastPath ? 'on' : `off (${this.dp.fastPathOff})`,
    });
    this.ifaces.start();
    for (const name of this.cfg.interfaces) {
      const i = this.watcher.get(name);
      if (!i) log.warn('mesh interface not found; waiting for it to appear', { iface: name });
      else if (!i.up) log.warn('mesh interface is down; waiting for it', { iface: name });
    }
    this.tick();
  }

  // --- control plane I/O -----------------------------------------------------------------------

  private onDatagram(r: Received): void {
    const info = this.watcher.byIndex(r.ifindex);
    if (!info) {
      this.core.notMesh();
      return;
    }
    this.run(this.core.onDatagram(r.bytes, { iface: info.name, addr: r.from }, performance.now()));
  }

  /**
   * A neighbour's hello was accepted and confirmed: it is awake now, and its next hello comes within
   * the interval + jitter. A keepalive due before then goes now, with the confirm (a hub's
   * neighbours' keepalives then arrive with their confirms of its own hello round instead of waking
   * it one by one). After one, the next is not due for 10 s − that horizon: at most one per hello.
   */
  private keepaliveWithHello(link: string): void {
    const horizon = this.cfg.helloIntervalMs * (1 + PROTOCOL.helloJitter);
    if (this.tunnels.get(link)?.tunnel.keepaliveEarly(horizon)) this.core.counters.keepalivesWithHello++;
  }

  /** After a batch of control datagrams: a neighbour found or a negotiation started may make the next tick due sooner. */
  private controlBatchEnd(): void {
    if (this.stopping) return;
    const now = performance.now();
    try {
      if (now + this.core.nextTickInMs(now) < this.nextTickAt) this.armTick(now);
    } catch (e) {
      this.log.error('tick scheduling failed', { error: (e as Error).message });
    }
  }

  private run(actions: Action[]): void {
    for (const a of actions) {
      try {
        this.runOne(a);
      } catch (e) {
        this.log.error('action failed', { action: a.kind, error: (e as Error).message });
      }
    }
  }

  private runOne(a: Action): void {
    switch (a.kind) {
      case 'send':
        this.sender.send(a.iface, a.to, a.message);
        if (a.message.type === 'scrooge_hello_confirm' && a.link !== undefined) this.keepaliveWithHello(a.link);
        return;
      case 'ensureTunnel':
        return this.tunnels.ensure(a.link, a.peer, a.iface, a.family, this.watcher.get(a.iface)?.mtu);
      case 'install': {
        const lt = this.tunnels.get(a.link);
        if (!lt) return;
        const endpoint = this.scoped(a.endpoint, lt.iface);
        if (!lt.tunnel.installSession(a.keys, a.role, performance.now(), endpoint)) {
          this.log.warn('session id collision; the next handshake replaces it', { tun: lt.name });
          return;
        }
        // After the install, never before (a failed install changes nothing). The initiator probes
        // the endpoint of the confirm that answered its own attempt (the port is signed) and moves
        // the tunnel there only when the answer authenticates (or when it has no endpoint yet); a
        // responder keeps a working endpoint: anyone can re-send a sniffed scrooge_tunnel from
        // elsewhere, and the initiator's first authenticated packet moves it anyway (roaming).
        if (
          a.role === 'responder' &&
          !lt.tunnel.offerControlEndpoint(endpoint) &&
          !(lt.tunnel.peer !== undefined && sameSockaddr(lt.tunnel.peer, endpoint))
        )
          this.log.debug('kept the authenticated endpoint', {
            tun: lt.name,
            offered: formatSockaddr(endpoint, lt.iface),
          });
        lt.lastHandshakeWall = Date.now();
        this.log.debug('session installed', {
          tun: lt.name,
          role: a.role,
          session: a.keys.sessionId,
          endpoint: formatSockaddr(endpoint, lt.iface),
        });
        return;
      }
      case 'closeTunnel':
        return this.tunnels.teardown(a.link, a.reason);
      case 'state': {
        const link = this.core.links.get(a.link);
        const lt = this.tunnels.get(a.link);
        const fields = {
          neighbor: link?.pkB64 ?? a.link.split('|')[0] ?? '',
          iface: link?.iface ?? '',
          tun: lt?.name ?? '',
          from: a.from,
          to: a.to,
          reason: a.reason,
        };
        if (a.to === 'up') {
          this.log.info('tunnel up', fields);
          if (lt) this.babel?.interfaceUp(lt.name);
        } else if (a.to === 'down') this.log.warn('tunnel down', fields);
        else this.log.info(`link ${a.to}`, fields);
        return;
      }
      case 'log':
        this.log[a.level](a.msg, a.fields);
        return;
    }
  }

  /** Link-local destinations get the interface's scope. */
  private scoped(sa: SockAddr, iface: string): SockAddr {
    if (sa.family === 6 && isLinkLocal6(sa.address)) return { ...sa, scopeId: this.watcher.get(iface)?.ifindex ?? 0 };
    return sa;
  }

  // --- timers ------------------------------------------------------------------------------------

  private tickSoon = false;

  /** Runs a tick on the next turn of the event loop (coalesced). */
  private scheduleTick(): void {
    if (this.tickSoon) return;
    this.tickSoon = true;
    setImmediate(() => {
      this.tickSoon = false;
      this.tick();
    });
  }

  private tick(): void {
    if (this.stopping) return;
    const now = performance.now();
    try {
      this.ifaces.poll(now);
      const health = new Map<string, TunnelHealth>();
      for (const [link, lt] of this.tunnels.entries()) {
        const r = lt.tunnel.tick(now);
        health.set(link, { hasCurrent: !r.noSession, dead: r.dead, unprovenMs: r.unprovenMs, rekeyDue: r.rekeyDue });
      }
      this.run(this.core.tick(now, (l) => health.get(l)));
      if (this.core.floors.dirty && now - this.lastFloorSave >= LIMITS.floorSaveMs) this.saveFloors(now);
    } catch (e) {
      this.log.error('tick failed', { error: (e as Error).message });
    }
    this.armTick(now);
  }

  /** When the next tick comes: soon while anything is negotiated, else when the next timer is due (≤ 1 s). */
  private nextTickAt = Number.POSITIVE_INFINITY;

  private armTick(now: number): void {
    if (this.stopping) return;
    let delay: number = LIMITS.tickMs;
    try {
      if (!this.ifaces.polling) delay = this.core.nextTickInMs(now);
    } catch (e) {
      this.log.error('tick scheduling failed', { error: (e as Error).message });
    }
    clearTimeout(this.tickTimer);
    this.nextTickAt = now + delay;
    this.tickTimer = setTimeout(() => this.tick(), delay);
  }

  /** Writes the replay floors (every floorSaveMs while they change, and at stop). */
  private saveFloors(now: number): void {
    this.lastFloorSave = now;
    try {
      this.floorStore.save(this.core.floors.entries());
      this.core.floors.dirty = false;
    } catch (e) {
      this.log.error('cannot save the replay floors', { error: (e as Error).message });
    }
  }

  /** Mesh interfaces that came up, went down or changed (MeshInterfaces re-read them). */
  private interfacesChanged(events: IfaceEvent[]): void {
    if (this.stopping) return;
    const now = performance.now();
    for (const ev of events) {
      if (ev.kind === 'up') {
        try {
          if (ev.info.linkLocal) this.sock?.membership(ev.info.ifindex, true);
        } catch (e) {
          this.log.warn('cannot join ff02::1', { iface: ev.info.name, error: (e as Error).message });
        }
        this.run(this.core.interfaceUp(ev.info.name, now));
      } else if (ev.kind === 'down') {
        this.run(this.core.interfaceDown(ev.name, ev.reason));
        this.tunnels.closeSocket(ev.name);
      } else {
        this.log.info('mesh interface changed', { iface: ev.info.name, change: ev.what });
      }
    }
  }

  // --- API ---------------------------------------------------------------------------------------

  private upTunnelNames(): string[] {
    const names: string[] = [];
    for (const [link, lt] of this.tunnels.entries()) if (this.core.links.get(link)?.state === 'up') names.push(lt.name);
    return names;
  }

  // --- lifecycle -----------------------------------------------------------------------------------

  /**
   * Stops everything. A clean stop (SIGINT/SIGTERM) removes the forwarding
   * filter and restores the sysctls; with keepFilter (an internal error, a
   * failed socket) both stay as they are, so a dying daemon never opens the
   * node to raw forwarding: the filter fails closed, like after kill -9.
   */
  async stop(reason: string, opts: { keepFilter?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.sock?.close();
    this.ifaces.close();
    if (this.core.floors.dirty) this.saveFloors(performance.now());
    this.tunnels.forgetAll();
    this.tc.close();
    this.dp.close();
    await this.babel?.close();
    await this.api?.close();
    await this.metricsServer?.close();
    if (!opts.keepFilter) {
      await this.filter.stop();
      this.sysctls.restore();
    } else if (this.filter.active) {
      this.log.warn('leaving the forwarding filter in place', { table: 'inet scrooge', reason });
    }
    this.lock?.release();
    this.lock = undefined;
    this.log.info('scrooge stopped', { reason });
  }
}
