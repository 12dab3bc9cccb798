/**
 * Prometheus text exposition of the daemon's counters (GET /metrics on the
 * admin API, and on --metrics ADDRESS:PORT).
 */
import type { ControlCounters } from './control/core.js';

type Sample = [labels: Record<string, string>, value: number];

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Sample[];
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class MetricsText {
  private readonly lines: string[] = [];
  add(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      this.lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
    }
  }
  toString(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** What the metrics are rendered from: a plain snapshot (the daemon's neighbours and control counters). */
export interface MetricsSnapshot {
  neighbors: ReadonlyArray<{
    publicKey: string;
    interface: string;
    tun: string | null;
    state: string;
    rx: { bytes: number; packets: number; drops: number };
    tx: { bytes: number; packets: number; drops: number };
    drops: Record<string, number>;
  }>;
  control: Readonly<ControlCounters>;
}

export function renderMetrics(snap: MetricsSnapshot, extra: MetricFamily[]): string {
  const m = new MetricsText();
  const n = snap.neighbors;
  const lab = (x: (typeof n)[number]) => ({ neighbor: x.publicKey, interface: x.interface, tun: x.tun ?? '' });
  m.add(
    'scrooge_neighbors',
    'gauge',
    'Links (neighbour, interface) by state.',
    ['discovered', 'negotiating', 'up', 'down'].map((s) => [{ state: s }, n.filter((x) => x.state === s).length]),
  );
  for (const dir of ['rx', 'tx'] as const) {
    const verb = dir === 'rx' ? 'received' : 'sent';
    for (const what of ['bytes', 'packets'] as const) {
      m.add(
        `scrooge_tunnel_${dir}_${what}_total`,
        'counter',
        `Inner ${what} ${verb} through the tunnel.`,
        n.map((x) => [lab(x), x[dir][what]]),
      );
    }
  }
  m.add(
    'scrooge_tunnel_drops_total',
    'counter',
    'Packets dropped, by reason.',
    n.flatMap((x) => Object.entries(x.drops).map(([reason, v]): Sample => [{ ...lab(x), reason }, v])),
  );
  const c = snap.control;
  m.add('scrooge_control_datagrams_total', 'counter', 'Control datagrams received.', [[{}, c.rxDatagrams]]);
  m.add('scrooge_control_dropped_total', 'counter', 'Control datagrams dropped, by reason.', [
    [{ reason: 'rate_limited' }, c.dropRateLimited],
    [{ reason: 'decode' }, c.dropDecode],
    [{ reason: 'not_mesh' }, c.dropNotMesh],
    [{ reason: 'from_self' }, c.dropFromSelf],
    [{ reason: 'not_for_us' }, c.dropNotForUs],
    [{ reason: 'bad_signature' }, c.dropBadSignature],
    [{ reason: 'old_seq' }, c.dropOldSeq],
    [{ reason: 'table_full' }, c.dropTableFull],
    [{ reason: 'bad_key' }, c.dropBadKey],
  ]);
  m.add('scrooge_handshakes_total', 'counter', 'Completed tunnel handshakes.', [[{}, c.handshakes]]);
  for (const e of extra) m.add(e.name, e.type, e.help, e.samples);
  return m.toString();
}

type Direction = 'ingress' | 'egress';
interface TcRow {
  neighbor: string;
  tun: string;
  stats: {
    queue: Record<Direction, { packets: number; bytes: number }>;
    ingress: { bytes: number; dropQueueFull: number; dropCodel: number };
    egress: { bytes: number; dropQueueFull: number; dropCodel: number };
  };
}

const lab = (neighbor: string, tun: string, direction: Direction) => ({ neighbor, tun, direction });

/** Traffic control per neighbour and direction, and its settings. */
export function tcFamilies(
  rows: TcRow[],
  settings: { capacityBps: number | undefined; share: number },
): MetricFamily[] {
  const out: MetricFamily[] = [];
  out.push(
    {
      name: 'scrooge_tc_queue_packets',
      type: 'gauge',
      help: "Packets waiting in a neighbour's traffic-control queue.",
      samples: rows.flatMap(({ neighbor, tun, stats: st }) => [
        [lab(neighbor, tun, 'ingress'), st.queue.ingress.packets],
        [lab(neighbor, tun, 'egress'), st.queue.egress.packets],
      ]),
    },
    {
      name: 'scrooge_tc_sent_bytes_total',
      type: 'counter',
      help: 'Inner bytes let through by traffic control.',
      samples: rows.flatMap(({ neighbor, tun, stats: st }) => [
        [lab(neighbor, tun, 'ingress'), st.ingress.bytes],
        [lab(neighbor, tun, 'egress'), st.egress.bytes],
      ]),
    },
    {
      name: 'scrooge_tc_dropped_packets_total',
      type: 'counter',
      help: 'Packets dropped by traffic control, by reason.',
      samples: rows.flatMap(({ neighbor, tun, stats: st }) => [
        [{ ...lab(neighbor, tun, 'ingress'), reason: 'queue_full' }, st.ingress.dropQueueFull],
        [{ ...lab(neighbor, tun, 'ingress'), reason: 'codel' }, st.ingress.dropCodel],
        [{ ...lab(neighbor, tun, 'egress'), reason: 'queue_full' }, st.egress.dropQueueFull],
        [{ ...lab(neighbor, tun, 'egress'), reason: 'codel' }, st.egress.dropCodel],
      ]),
    },
    {
      name: 'scrooge_tc_capacity_bits_per_second',
      type: 'gauge',
      help: 'Configured capacity per direction (0: unlimited).',
      samples: [[{}, settings.capacityBps ?? 0]],
    },
    {
      name: 'scrooge_tc_share',
      type: 'gauge',
      help: 'Fraction of capacity for neighbour traffic.',
      samples: [[{}, settings.share]],
    },
  );
  return out;
}

/** Datagrams the interfaces' tunnel sockets dropped before any crypto. */
export function socketFamilies(
  sockets: Array<{ iface: string; counters: { dropMalformed: number; dropUnknownSession: number } }>,
): MetricFamily[] {
  const out: MetricFamily[] = [];
  out.push({
    name: 'scrooge_tunnel_socket_dropped_datagrams_total',
    type: 'counter',
    help: 'Datagrams to a tunnel socket dropped before any crypto: malformed, or no tunnel holds the session id.',
    samples: sockets.flatMap(({ iface, counters }) => [
      [{ iface, reason: 'malformed' }, counters.dropMalformed],
      [{ iface, reason: 'unknown_session' }, counters.dropUnknownSession],
    ]),
  });
  return out;
}

/** The forwarding filter's drop counters (none when the filter is off or unreadable). */
export function filterFamilies(
  f: { meshDropped: { packets: number; bytes: number }; strictDropped: { packets: number; bytes: number } } | undefined,
): MetricFamily[] {
  if (!f) return [];
  return (['packets', 'bytes'] as const).map((what) => ({
    name: `scrooge_filter_dropped_${what}_total`,
    type: 'counter',
    help: `${what === 'packets' ? 'Forwarded packets' : 'Bytes of forwarded packets'} dropped by the forwarding filter.`,
    samples: [
      [{ rule: 'mesh' }, f.meshDropped[what]],
      [{ rule: 'not_tunnel' }, f.strictDropped[what]],
    ],
  }));
}
