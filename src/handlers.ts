/**
 * The admin API's handlers (status, neighbours, set, accounting, metrics):
 * views of what the daemon holds, built from plain rows (src/views.ts,
 * src/metrics.ts), and the run-time settings applied to traffic control.
 */
import type { CryptoBackend, Identity } from '../crypto/index.js';
import type { Logger } from '../dataplane/log.js';
import { linkLocalAddress } from '../dataplane/names.js';
import type { TcNeighborStats, TrafficControl } from '../dataplane/tc/stage.js';
import { parseSetRequest } from './admin.js';
import type { ApiHandler } from './api.js';
import type { BabelClient } from './babel.js';
import type { DaemonConfig, NeighborSettings } from './config.js';
import type { ControlCore } from './control/core.js';
import type { ControlSocket } from './control/socket.js';
import type { ForwardingFilter } from './filter.js';
import type { IfaceInfo, InterfaceWatcher, MeshInterfaces } from './interfaces.js';
import { filterFamilies, type MetricFamily, renderMetrics, socketFamilies, tcFamilies } from './metrics.js';
import type { ForwardingSysctls } from './sysctl.js';
import type { TunnelRegistry } from './tunnels.js';
import { formatRate } from './values.js';
import { VERSION } from './version.js';
import { type NeighborInfo, neighborView, tcView } from './views.js';

/** What the handlers read and change: the daemon's parts. */
export interface DaemonParts {
  readonly cfg: DaemonConfig;
  readonly log: Logger;
  readonly identity: Identity;
  readonly backend: CryptoBackend;
  readonly core: ControlCore;
  readonly tunnels: TunnelRegistry;
  readonly tc: TrafficControl;
  readonly filter: ForwardingFilter;
  readonly sysctls: ForwardingSysctls;
  readonly watcher: InterfaceWatcher;
  readonly ifaces: MeshInterfaces;
  readonly startedWall: number;
  /** Per-neighbour traffic settings by public key (config file, then `scrooge set`). */
  readonly nbSettings: Map<string, NeighborSettings>;
  tcFor(pkB64: string): { weight: number; capBps: number | undefined };
  sock(): ControlSocket | undefined;
  babel(): BabelClient | undefined;
}

export class AdminHandlers implements ApiHandler {
  constructor(private readonly d: DaemonParts) {}

  private tcStatsOf(link: string): TcNeighborStats | undefined {
    const lt = this.d.tunnels.get(link);
    return lt ? this.d.tc.neighborStats(lt.tunnel) : undefined;
  }

  neighbors(): NeighborInfo[] {
    return this.d.core
      .snapshot()
      .map((l) => neighborView(l, this.d.tunnels.get(l.key), this.tcStatsOf(l.key), this.d.tcFor(l.pkB64)));
  }

  async status(): Promise<Record<string, unknown>> {
    const links = this.d.core.snapshot();
    const counters = await this.d.filter.counters();
    const summary: string[] = [];
    if (this.d.filter.mode === 'off') summary.push('filter       off (no nftables rules installed)');
    else if (counters) {
      summary.push(
        `filter       ${this.d.filter.mode}: ${counters.meshDropped.packets} raw packets from mesh interfaces dropped` +
          (this.d.filter.mode === 'strict' ? `, ${counters.strictDropped.packets} non-tunnel packets dropped` : ''),
      );
    } else summary.push(`filter       ${this.d.filter.mode}: table missing!`);
    const t = this.d.tc.settings;
    summary.push(
      `traffic      ${t.capacityBps === undefined ? 'capacity unlimited' : `capacity ${formatRate(t.capacityBps)}`}, share ${t.share}, scheduler ${t.algorithm}` +
        (this.d.tc.enabled ? '' : ' (no limits set: pass-through)'),
    );
    return {
      version: VERSION,
      publicKey: this.d.identity.publicKeyBase64,
      linkLocal: linkLocalAddress(this.d.identity.publicKey),
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.d.startedWall) / 1000),
      crypto: this.d.backend.name,
      controlPort: this.d.cfg.port,
      interfaces: this.d.cfg.interfaces.map((name) => {
        const i: IfaceInfo | undefined = this.d.watcher.get(name);
        return {
          name,
          present: i !== undefined,
          up: this.d.core.isUp(name),
          ifindex: i?.ifindex ?? null,
          mtu: i?.mtu ?? null,
        };
      }),
      interfaceReads: {
        ...this.d.ifaces.counters,
        polling: this.d.ifaces.polling,
        foreignNotifications: this.d.ifaces.foreignNotifications,
      },
      neighbors: {
        total: links.length,
        up: links.filter((l) => l.state === 'up').length,
        max: this.d.cfg.maxNeighbors,
      },
      control: {
        ...this.d.core.counters,
        sendErrors: this.d.sock()?.sendErrors ?? 0,
        coalescedPauses: this.d.sock()?.coalescedPauses ?? 0,
      },
      replayFloors: { links: this.d.core.floors.size, evicted: this.d.core.floors.evicted },
      tunnelSockets: this.d.tunnels.socketList().map(([iface, sk]) => ({ iface, ...sk.readStats() })),
      babel: this.d.babel()?.status() ?? null,
      trafficControl: tcView(this.d.tc, this.d.cfg.defaultWeight),
      forwarding: {
        mode: this.d.filter.mode,
        installed: this.d.filter.active && counters !== undefined,
        table: this.d.filter.mode === 'off' ? null : 'inet scrooge',
        dropped: counters ? { mesh: counters.meshDropped, notTunnel: counters.strictDropped } : null,
        ipForwarding: this.d.sysctls.state(),
      },
      summary,
    };
  }

  /** Applies a run-time traffic setting (scrooge set …); effective at once. */
  set(body: unknown): unknown {
    const req = parseSetRequest(body);
    const tunnelsOf = (pk: string) => this.d.tunnels.ofKey(pk);
    switch (req.kind) {
      case 'weight': {
        const { key, weight } = req;
        this.d.nbSettings.set(key, { ...this.d.nbSettings.get(key), weight });
        for (const lt of tunnelsOf(key)) this.d.tc.setWeight(lt.tunnel, weight);
        this.d.log.info('weight set', { neighbor: key, weight, links: tunnelsOf(key).length });
        return { neighbor: key, weight, links: tunnelsOf(key).length };
      }
      case 'rate': {
        const { key, rate } = req;
        this.d.nbSettings.set(key, { ...this.d.nbSettings.get(key), rate: rate ?? null });
        for (const lt of tunnelsOf(key)) this.d.tc.setCap(lt.tunnel, rate);
        this.d.log.info('rate cap set', { neighbor: key, rate: rate === undefined ? 'none' : formatRate(rate) });
        return { neighbor: key, rate: rate === undefined ? null : formatRate(rate), links: tunnelsOf(key).length };
      }
      case 'share':
        this.d.tc.setShare(req.share);
        this.d.log.info('share set', { share: req.share });
        return tcView(this.d.tc, this.d.cfg.defaultWeight);
      case 'capacity':
        this.d.tc.setCapacity(req.capacity);
        this.d.log.info('capacity set', {
          capacity: req.capacity === undefined ? 'unlimited' : formatRate(req.capacity),
        });
        return tcView(this.d.tc, this.d.cfg.defaultWeight);
      case 'scheduler':
        this.d.tc.setAlgorithm(req.scheduler);
        this.d.log.info('scheduler set', { scheduler: req.scheduler });
        return tcView(this.d.tc, this.d.cfg.defaultWeight);
    }
  }

  accounting(reset: boolean): unknown {
    return this.d.tunnels.accounting(reset);
  }

  async metrics(): Promise<string> {
    return renderMetrics({ neighbors: this.neighbors(), control: this.d.core.counters }, await this.extraMetrics());
  }

  /** Metric families of optional parts (traffic control, tunnel sockets, filter), from plain rows. */
  async extraMetrics(): Promise<MetricFamily[]> {
    const tc = [...this.d.tunnels.all()].flatMap((lt) => {
      const st = this.d.tc.neighborStats(lt.tunnel);
      return st ? [{ neighbor: lt.pk, tun: lt.name, stats: st }] : [];
    });
    const sockets = this.d.tunnels.socketList().map(([iface, sk]) => ({ iface, counters: sk.counters }));
    return [
      ...tcFamilies(tc, this.d.tc.settings),
      ...socketFamilies(sockets),
      ...filterFamilies(await this.d.filter.counters()),
    ];
  }
}
