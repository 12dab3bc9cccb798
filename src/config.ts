/**
 * `scrooge up` configuration: flags and a JSON config file (`--config FILE`),
 * flags override the file. Every setting is declared once in SETTINGS below
 * (flag, file key, parser, default); a bad value is one ScroogeError naming
 * the flag, or the file, line and key, and why.
 */
import { type ScroogeError } from '../base/errors.js';
import { ControlError } from './errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64Exact } from '../crypto/index.js';
import { DEFAULT_TUN_PREFIX, validateTunPrefix } from '../dataplane/names.js';
import type { LogLevel } from '../dataplane/log.js';
import { type InterfaceAddress } from '../dataplane/link.js';
import { parseIPv4, parseIPv6, parsePrefix } from '../dataplane/sockaddr.js';
import { ALGORITHMS } from '../dataplane/tc/algorithms/index.js';
import { parseBabelAddress } from './babel.js';
import { DEFAULT_STATE_DIR } from './state.js';
import { CONTROL_PORT } from './control/messages.js';
import { LIMITS, MTU } from '../base/constants.js';
import { isLogLevel, type LogFormat } from './log.js';

export type ForwardingMode = 'mesh' | 'strict' | 'off';
export const SCHEDULERS = Object.keys(ALGORITHMS);
export type SchedulerName = string;

export interface NeighborSettings {
  weight?: number;
  /** Cap in bit/s; null = no cap. */
  rate?: number | null;
}

export interface DaemonConfig {
  interfaces: string[];
  key: string;
  stateDir: string;
  api: string;
  apiHttp: string | undefined;
  port: number;
  /** UDP port of the tunnel socket on every mesh interface (0: the kernel picks one per interface). */
  tunnelPort: number;
  tunPrefix: string;
  addresses: InterfaceAddress[];
  mtu: number | undefined;
  helloIntervalMs: number;
  peers: string[];
  logLevel: LogLevel;
  logFormat: LogFormat;
  metrics: string | undefined;
  maxNeighbors: number;
  neighborTimeoutMs: number;
  /** Bit/s per direction; undefined = unlimited. */
  capacity: number | undefined;
  share: number;
  scheduler: SchedulerName;
  defaultWeight: number;
  neighbors: Record<string, NeighborSettings>;
  forwarding: ForwardingMode;
  enableForwarding: boolean;
  babel: string | undefined;
  babelInterface: string;
  gso: boolean;
  gro: boolean;
  crypto: 'auto' | 'sodium' | 'js';
}

// --- value parsers (shared with the admin API and `scrooge set`) ---------------------------------

export function parseDuration(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v * 1000;
  if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
    if (m) {
      const n = Number(m[1]);
      const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
      if (ms > 0) return ms;
    }
  }
  throw new Error(`${JSON.stringify(v)} is not a duration (e.g. 5s, 500ms, 2m)`);
}

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  bps: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  k: 1e3,
  m: 1e6,
  g: 1e9,
};

/** "100mbit", "1gbit", "64kbit", "1500000" (bit/s) → bit/s. */
export function parseRate(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
    const unit = (m?.[2] ?? '').toLowerCase();
    if (m && (unit === '' || unit in RATE_UNITS)) {
      const r = Number(m[1]) * (unit === '' ? 1 : (RATE_UNITS[unit] as number));
      if (r >= LIMITS.minRateBps && r <= LIMITS.maxRateBps) return r;
      throw new Error(`${JSON.stringify(v)} is out of range (${LIMITS.minRateBps} bit/s to 10 tbit)`);
    }
  }
  throw new Error(`${JSON.stringify(v)} is not a rate (e.g. 100mbit, 1gbit, 500kbit)`);
}

export function formatRate(bps: number): string {
  if (bps >= 1e9 && bps % 1e6 === 0 && bps % 1e9 === 0) return `${bps / 1e9}gbit`;
  if (bps >= 1e6 && bps % 1e3 === 0) return `${+(bps / 1e6).toFixed(3)}mbit`;
  if (bps >= 1e3) return `${+(bps / 1e3).toFixed(3)}kbit`;
  return `${bps}bit`;
}

export function parseShare(v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 1) return n;
  throw new Error(`${JSON.stringify(v)} is not a share between 0 and 1`);
}

export function parseWeight(v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n) && n >= LIMITS.minWeight && n <= LIMITS.maxWeight) return n;
  throw new Error(`${JSON.stringify(v)} is not a weight (${LIMITS.minWeight} to ${LIMITS.maxWeight})`);
}

function parseInteger(min: number, max: number) {
  return (v: unknown): number => {
    const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    throw new Error(`${JSON.stringify(v)} is not an integer from ${min} to ${max}`);
  };
}

function parseString(v: unknown): string {
  if (typeof v === 'string' && v.length > 0) return v;
  throw new Error(`${JSON.stringify(v)} is not a non-empty string`);
}

/** babeld interface parameters: words of [A-Za-z0-9._:-], one line (no injection of other commands). */
export function parseBabelInterfaceOptions(v: unknown): string {
  const s = parseString(v)
    .trim()
    .replace(/[ \t]+/g, ' ');
  if (!/^[A-Za-z0-9._:-]+( [A-Za-z0-9._:-]+)*$/.test(s)) {
    throw new Error(
      `${JSON.stringify(v)} is not a list of babeld interface parameters (e.g. "type tunnel hello-interval 1")`,
    );
  }
  return s;
}

function parseBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`${JSON.stringify(v)} is not true or false`);
}

function parseEnum<T extends string>(values: readonly T[]) {
  return (v: unknown): T => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    throw new Error(`${JSON.stringify(v)} is not one of ${values.join(', ')}`);
  };
}

function parseIfname(v: unknown): string {
  const s = parseString(v);
  if (s.length > 15 || !/^[A-Za-z0-9_.:@-]+$/.test(s)) throw new Error(`${JSON.stringify(v)} is not an interface name`);
  return s;
}

function parseAddress(v: unknown): InterfaceAddress {
  try {
    return parsePrefix(parseString(v));
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

/** "fe80::1%eth0", "2001:db8::1", "192.0.2.1" (optionally with :port is not allowed: the port is --port). */
export function parsePeer(v: unknown): string {
  const s = parseString(v);
  const [addr, zone] = s.split('%') as [string, string | undefined];
  if (!(parseIPv4(addr) || parseIPv6(addr)) || (zone !== undefined && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(zone))) {
    throw new Error(`${JSON.stringify(v)} is not an IP address (optionally with %iface)`);
  }
  if (parseIPv6(addr)?.[0] === 0xfe && zone === undefined) {
    throw new Error(`${JSON.stringify(v)}: a link-local peer needs %iface`);
  }
  return s;
}

function parseHostPort(v: unknown): string {
  const s = parseString(v);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535 || !(parseIPv6(m[1] ?? '') || parseIPv4(m[2] ?? ''))) {
    throw new Error(`${JSON.stringify(v)} is not ADDRESS:PORT (e.g. 127.0.0.1:9481 or [::1]:9481)`);
  }
  return s;
}

function parseNeighbors(v: unknown): Record<string, NeighborSettings> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be an object keyed by public key');
  const out: Record<string, NeighborSettings> = {};
  for (const [pk, raw] of Object.entries(v as Record<string, unknown>)) {
    try {
      fromBase64Exact(pk, 32, 'public key');
    } catch {
      throw new Error(`"${pk}" is not a public key (44 characters of base64)`);
    }
    if (typeof raw !== 'object' || raw === null) throw new Error(`${pk}: must be an object with weight and/or rate`);
    const s: NeighborSettings = {};
    for (const [k, val] of Object.entries(raw as Record<string, unknown>)) {
      try {
        if (k === 'weight') s.weight = parseWeight(val);
        else if (k === 'rate') s.rate = val === null || val === 'none' ? null : parseRate(val);
        else throw new Error(`unknown key "${k}" (weight, rate)`);
      } catch (e) {
        throw Object.assign(new Error(`${pk}: ${k}: ${(e as Error).message}`), { at: pk });
      }
    }
    out[pk] = s;
  }
  return out;
}

// --- the settings table ---------------------------------------------------------------------------

type Kind = 'string' | 'boolean' | 'list';

interface Setting {
  /** Key in the config file and in DaemonConfig unless `field` says otherwise. */
  key: string;
  flag: string;
  kind: Kind;
  parse: (v: unknown) => unknown;
  help: string;
  /** Shown in --help / README. */
  def?: string;
  flagOnly?: boolean;
  fileOnly?: boolean;
}

export const SETTINGS: Setting[] = [
  {
    key: 'interfaces',
    flag: 'interface',
    kind: 'list',
    parse: parseIfname,
    help: 'mesh interface (repeatable)',
    def: 'none: required',
  },
  {
    key: 'key',
    flag: 'key',
    kind: 'string',
    parse: parseString,
    help: 'identity key file, created 0600 if missing',
    def: '<state-dir>/key',
  },
  {
    key: 'stateDir',
    flag: 'state-dir',
    kind: 'string',
    parse: parseString,
    help: 'state directory (seq floor, lock, socket)',
    def: DEFAULT_STATE_DIR,
  },
  {
    key: 'api',
    flag: 'api',
    kind: 'string',
    parse: parseString,
    help: 'admin API Unix socket (mode 0600)',
    def: '<state-dir>/scrooge.sock',
  },
  {
    key: 'apiHttp',
    flag: 'api-http',
    kind: 'string',
    parse: parseHostPort,
    help: 'also serve the admin API over HTTP on a loopback ADDRESS:PORT',
    def: 'off',
  },
  {
    key: 'port',
    flag: 'port',
    kind: 'string',
    parse: parseInteger(1, 65535),
    help: 'control protocol UDP port',
    def: String(CONTROL_PORT),
  },
  {
    key: 'tunnelPort',
    flag: 'tunnel-port',
    kind: 'string',
    parse: parseInteger(0, 65535),
    help: 'UDP port of the tunnel socket on each mesh interface, shared by all its tunnels (0: any free port)',
    def: '0',
  },
  {
    key: 'tunPrefix',
    flag: 'tun-prefix',
    kind: 'string',
    parse: (v) => {
      const s = parseString(v);
      validateTunPrefix(s);
      return s;
    },
    help: 'TUN device name prefix (≤ 7 chars)',
    def: DEFAULT_TUN_PREFIX,
  },
  {
    key: 'addresses',
    flag: 'address',
    kind: 'list',
    parse: parseAddress,
    help: 'node address ADDR/PLEN put on every tunnel device (repeatable)',
    def: 'none',
  },
  {
    key: 'mtu',
    flag: 'mtu',
    kind: 'string',
    parse: parseInteger(MTU.minTunnel, MTU.maxTun),
    help: 'TUN MTU (default: underlay MTU − 80)',
    def: 'derived',
  },
  {
    key: 'helloInterval',
    flag: 'hello-interval',
    kind: 'string',
    parse: parseDuration,
    help: 'hello interval (±20% jitter)',
    def: '5s',
  },
  {
    key: 'peers',
    flag: 'peer',
    kind: 'list',
    parse: parsePeer,
    help: 'also send hellos unicast to ADDR[%iface] (repeatable)',
    def: 'none',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    kind: 'string',
    parse: (v) => {
      const s = parseString(v);
      if (!isLogLevel(s)) throw new Error(`${JSON.stringify(v)} is not one of debug, info, warn, error`);
      return s;
    },
    help: 'debug, info, warn, error',
    def: 'info',
  },
  {
    key: 'logFormat',
    flag: 'log-format',
    kind: 'string',
    parse: parseEnum(['logfmt', 'json'] as const),
    help: 'logfmt or json',
    def: 'logfmt',
  },
  {
    key: 'metrics',
    flag: 'metrics',
    kind: 'string',
    parse: parseHostPort,
    help: 'serve Prometheus metrics on ADDRESS:PORT',
    def: 'off',
  },
  {
    key: 'maxNeighbors',
    flag: 'max-neighbors',
    kind: 'string',
    parse: parseInteger(1, LIMITS.maxNeighborsCeiling),
    help: 'neighbour table bound',
    def: String(LIMITS.defaultMaxNeighbors),
  },
  {
    key: 'neighborTimeout',
    flag: 'neighbor-timeout',
    kind: 'string',
    parse: parseDuration,
    help: 'remove a silent neighbour (and its tunnel) after this long',
    def: '60s',
  },
  {
    key: 'capacity',
    flag: 'capacity',
    kind: 'string',
    parse: parseRate,
    help: 'bandwidth per direction (e.g. 100mbit)',
    def: 'unlimited',
  },
  {
    key: 'share',
    flag: 'share',
    kind: 'string',
    parse: parseShare,
    help: 'fraction of capacity neighbour traffic may use (0–1)',
    def: '1',
  },
  {
    key: 'scheduler',
    flag: 'scheduler',
    kind: 'string',
    parse: parseEnum(SCHEDULERS),
    help: SCHEDULERS.join(', '),
    def: 'wtb-drr',
  },
  {
    key: 'defaultWeight',
    flag: 'default-weight',
    kind: 'string',
    parse: parseWeight,
    help: 'weight of neighbours without their own',
    def: '1',
  },
  {
    key: 'neighbors',
    flag: '',
    kind: 'string',
    parse: parseNeighbors,
    help: 'per-neighbour {"<pubkey>": {"weight": 3, "rate": "20mbit"}}',
    def: '{}',
    fileOnly: true,
  },
  {
    key: 'forwarding',
    flag: 'forwarding',
    kind: 'string',
    parse: parseEnum(['mesh', 'strict', 'off'] as const),
    help: 'forwarding filter mode',
    def: 'mesh',
  },
  {
    key: 'enableForwarding',
    flag: 'enable-forwarding',
    kind: 'boolean',
    parse: parseBool,
    help: 'set net.ipv4.ip_forward and net.ipv6.conf.all.forwarding to 1',
    def: 'false',
  },
  {
    key: 'babel',
    flag: 'babel',
    kind: 'string',
    parse: (v) => {
      const s = parseString(v);
      parseBabelAddress(s);
      return s;
    },
    help: "babeld's local read-write socket (babeld -G): PORT, ADDRESS:PORT or /path",
    def: 'off',
  },
  {
    key: 'babelInterface',
    flag: 'babel-interface',
    kind: 'string',
    parse: parseBabelInterfaceOptions,
    help: 'babeld interface parameters sent with each tunnel (babeld does not apply its "default" line to interfaces added at run time)',
    def: 'type tunnel',
  },
  {
    key: 'gso',
    flag: 'gso',
    kind: 'boolean',
    parse: parseBool,
    help: 'UDP GSO on send (--no-gso to turn off)',
    def: 'true',
  },
  {
    key: 'gro',
    flag: 'gro',
    kind: 'boolean',
    parse: parseBool,
    help: 'UDP GRO on receive (--no-gro to turn off)',
    def: 'true',
  },
  {
    key: 'crypto',
    flag: 'crypto',
    kind: 'string',
    parse: parseEnum(['auto', 'sodium', 'js'] as const),
    help: 'crypto backend',
    def: 'auto',
  },
];

/** Line (1-based) where `"key"` first appears in the file text, for error messages. */
function lineOf(text: string, key: string, after = 0): number {
  const at = text.indexOf(`"${key}"`, after);
  if (at < 0) return 0;
  return text.slice(0, at).split('\n').length;
}

function fileError(path: string, text: string, key: string, msg: string, at?: string): ScroogeError {
  const line = (at !== undefined ? lineOf(text, at, text.indexOf(`"${key}"`)) : 0) || lineOf(text, key);
  return new ControlError('ERR_CONFIG', `${path}${line ? `:${line}` : ''}: ${key}: ${msg}`);
}

/** parseArgs options for `scrooge up`. */
export function upFlagOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const o: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const s of SETTINGS) {
    if (s.fileOnly) continue;
    if (s.kind === 'boolean') {
      o[s.flag] = { type: 'boolean' };
      o[`no-${s.flag}`] = { type: 'boolean' };
    } else o[s.flag] = { type: 'string', multiple: s.kind === 'list' };
  }
  return o;
}

/**
 * Builds the configuration from parsed flags (values keyed by flag name) and
 * the optional config file. Throws ScroogeError('ERR_CONFIG') naming the flag
 * or the file line and key.
 */
export function loadConfig(
  flags: Record<string, unknown>,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
  /** `scrooge doctor` checks a machine before any interface is chosen. */
  opts: { requireInterfaces: boolean } = { requireInterfaces: true },
): DaemonConfig {
  const values = new Map<string, unknown>();
  const path = typeof flags.config === 'string' ? flags.config : undefined;
  if (path !== undefined) {
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      throw new ControlError('ERR_CONFIG', `cannot read config file ${path}: ${(e as Error).message}`);
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      const m = /position (\d+)/.exec((e as Error).message);
      const line = m ? text.slice(0, Number(m[1])).split('\n').length : 0;
      throw new ControlError(
        'ERR_CONFIG',
        `${path}${line ? `:${line}` : ''}: not valid JSON (${(e as Error).message})`,
      );
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new ControlError('ERR_CONFIG', `${path}: must be a JSON object`);
    }
    for (const [k, raw] of Object.entries(obj as Record<string, unknown>)) {
      const s = SETTINGS.find((x) => x.key === k);
      if (!s) throw fileError(path, text, k, `unknown setting (known: ${SETTINGS.map((x) => x.key).join(', ')})`);
      try {
        if (s.kind === 'list') {
          if (!Array.isArray(raw)) throw new Error('must be a list');
          values.set(k, raw.map(s.parse));
        } else values.set(k, s.parse(raw));
      } catch (e) {
        throw fileError(path, text, k, (e as Error).message, (e as { at?: string }).at);
      }
    }
  }
  for (const s of SETTINGS) {
    if (s.fileOnly) continue;
    const raw = flags[s.flag];
    const neg = flags[`no-${s.flag}`];
    try {
      if (s.kind === 'boolean') {
        if (raw === true) values.set(s.key, true);
        if (neg === true) values.set(s.key, false);
      } else if (s.kind === 'list') {
        if (Array.isArray(raw) && raw.length > 0) values.set(s.key, raw.map(s.parse));
      } else if (raw !== undefined) values.set(s.key, s.parse(raw));
    } catch (e) {
      throw new ControlError('ERR_CONFIG', `--${s.flag}: ${(e as Error).message}`);
    }
  }
  const get = <T>(k: string, def: T): T => (values.has(k) ? (values.get(k) as T) : def);
  const stateDir = get('stateDir', DEFAULT_STATE_DIR);
  const cfg: DaemonConfig = {
    interfaces: get<string[]>('interfaces', []),
    key: get('key', join(stateDir, 'key')),
    stateDir,
    api: get('api', join(stateDir, 'scrooge.sock')),
    apiHttp: get<string | undefined>('apiHttp', undefined),
    port: get('port', CONTROL_PORT),
    tunnelPort: get('tunnelPort', 0),
    tunPrefix: get('tunPrefix', DEFAULT_TUN_PREFIX),
    addresses: get<InterfaceAddress[]>('addresses', []),
    mtu: get<number | undefined>('mtu', undefined),
    helloIntervalMs: get('helloInterval', 5000),
    peers: get<string[]>('peers', []),
    logLevel: get<LogLevel>('logLevel', 'info'),
    logFormat: get<LogFormat>('logFormat', 'logfmt'),
    metrics: get<string | undefined>('metrics', undefined),
    maxNeighbors: get('maxNeighbors', LIMITS.defaultMaxNeighbors),
    neighborTimeoutMs: get('neighborTimeout', 60_000),
    capacity: get<number | undefined>('capacity', undefined),
    share: get('share', 1),
    scheduler: get<SchedulerName>('scheduler', 'wtb-drr'),
    defaultWeight: get('defaultWeight', 1),
    neighbors: get<Record<string, NeighborSettings>>('neighbors', {}),
    forwarding: get<ForwardingMode>('forwarding', 'mesh'),
    enableForwarding: get('enableForwarding', false),
    babel: get<string | undefined>('babel', undefined),
    babelInterface: get('babelInterface', 'type tunnel'),
    gso: get('gso', true),
    gro: get('gro', true),
    crypto: get<'auto' | 'sodium' | 'js'>('crypto', 'auto'),
  };
  if (cfg.interfaces.length === 0 && opts.requireInterfaces) {
    throw new ControlError(
      'ERR_CONFIG',
      'no mesh interface: give --interface IFACE (or "interfaces" in the config file)',
    );
  }
  if (new Set(cfg.interfaces).size !== cfg.interfaces.length) {
    throw new ControlError('ERR_CONFIG', 'an interface is listed twice');
  }
  if (cfg.helloIntervalMs < LIMITS.minHelloIntervalMs || cfg.helloIntervalMs > LIMITS.maxHelloIntervalMs) {
    throw new ControlError(
      'ERR_CONFIG',
      `hello interval must be between ${LIMITS.minHelloIntervalMs} ms and ${LIMITS.maxHelloIntervalMs / 1000} s`,
    );
  }
  if (cfg.tunnelPort !== 0 && cfg.tunnelPort === cfg.port) {
    throw new ControlError('ERR_CONFIG', `the tunnel port and the control port are both ${cfg.port}`);
  }
  if (cfg.neighborTimeoutMs < 3 * cfg.helloIntervalMs) {
    throw new ControlError('ERR_CONFIG', 'neighbor timeout must be at least three hello intervals');
  }
  return cfg;
}
