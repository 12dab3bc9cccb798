/**
 * `scrooge up` configuration: flags and a JSON config file (`--config FILE`),
 * flags override the file. Every setting is declared once, in TABLE below: its
 * flag, file key, parser, typed default and help. The DaemonConfig type, the
 * flag parser options, `scrooge up --help` and the README's settings table are
 * all derived from it. A bad value is one ControlError naming the flag, or the
 * file, line and key, and why.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MTU, LIMITS, PROTOCOL } from '../base/constants.js';
import { DEFAULT_TUN_PREFIX, validateTunPrefix } from '../dataplane/names.js';
import { type InterfaceAddress } from '../dataplane/link.js';
import { ALGORITHMS } from '../dataplane/tc/algorithms/index.js';
import { parseBabelAddress } from './babel.js';
import { ControlError } from './errors.js';
import { isLogLevel } from './log.js';
import { DEFAULT_STATE_DIR } from './state.js';
import {
  type NeighborSettings,
  parseAddress,
  parseBabelInterfaceOptions,
  parseBool,
  parseDuration,
  parseEnum,
  parseHostPort,
  parseIfname,
  parseInteger,
  parseNeighbors,
  parsePeer,
  parseRate,
  parseShare,
  parseString,
  parseWeight,
} from './values.js';

export type ForwardingMode = 'mesh' | 'strict' | 'off';
export const SCHEDULERS = Object.keys(ALGORITHMS);
export type { NeighborSettings };

// --- the settings table ---------------------------------------------------------------------------

type Kind = 'string' | 'boolean' | 'list';

/** A default: the value itself, or computed from the state directory (paths inside it). */
type Default<T> = { value: T } | { from: (stateDir: string) => T };

interface Setting<T> {
  flag: string;
  /** Key in the config file (the DaemonConfig field unless given). */
  file?: string;
  kind: Kind;
  /** The whole value (for lists: the array) → the typed value; throws why not. */
  parse: (v: unknown) => T;
  default: Default<T>;
  /** The default as --help and the README show it. */
  shown: string;
  help: string;
  fileOnly?: boolean;
}

interface Spec {
  flag: string;
  file?: string;
  help: string;
  fileOnly?: boolean;
}

/** A single value whose default is written as a user would write it (parsed by the same parser). */
function text<T>(parse: (v: unknown) => T, def: string, spec: Spec): Setting<T> {
  return { ...spec, kind: 'string', parse, default: { value: parse(def) }, shown: def };
}

/** A single value with a typed default shown in words ("off", "derived", a path). */
function value<T>(parse: (v: unknown) => T, def: Default<T>, shown: string, spec: Spec): Setting<T> {
  return { ...spec, kind: 'string', parse, default: def, shown };
}

function flag(def: boolean, spec: Spec): Setting<boolean> {
  return { ...spec, kind: 'boolean', parse: parseBool, default: { value: def }, shown: String(def) };
}

/** A repeatable flag, a JSON list in the file; empty by default. */
function list<E>(parseItem: (v: unknown) => E, shown: string, spec: Spec): Setting<E[]> {
  const parse = (v: unknown): E[] => {
    if (!Array.isArray(v)) throw new Error('must be a list');
    return v.map(parseItem);
  };
  return { ...spec, kind: 'list', parse, default: { value: [] }, shown };
}

const none = { value: undefined };

const TABLE = {
  interfaces: list(parseIfname, 'none: required', { flag: 'interface', help: 'mesh interface (repeatable)' }),
  key: value(parseString, { from: (d) => join(d, 'key') }, '<state-dir>/key', {
    flag: 'key',
    help: 'identity key file, created 0600 if missing',
  }),
  stateDir: value(parseString, { value: DEFAULT_STATE_DIR }, DEFAULT_STATE_DIR, {
    flag: 'state-dir',
    help: 'state directory (seq floor, lock, socket)',
  }),
  api: value(parseString, { from: (d) => join(d, 'scrooge.sock') }, '<state-dir>/scrooge.sock', {
    flag: 'api',
    help: 'admin API Unix socket (mode 0600)',
  }),
  apiHttp: value<string | undefined>(parseHostPort, none, 'off', {
    flag: 'api-http',
    help: 'also serve the admin API over HTTP on a loopback ADDRESS:PORT',
  }),
  port: text(parseInteger(1, 65535), String(PROTOCOL.controlPort), { flag: 'port', help: 'control protocol UDP port' }),
  tunnelPort: text(parseInteger(0, 65535), '0', {
    flag: 'tunnel-port',
    help: 'UDP port of the tunnel socket on each mesh interface, shared by all its tunnels (0: any free port)',
  }),
  tunPrefix: text(
    (v) => {
      const s = parseString(v);
      validateTunPrefix(s);
      return s;
    },
    DEFAULT_TUN_PREFIX,
    { flag: 'tun-prefix', help: 'TUN device name prefix (≤ 7 chars)' },
  ),
  addresses: list<InterfaceAddress>(parseAddress, 'none', {
    flag: 'address',
    help: 'node address ADDR/PLEN put on every tunnel device (repeatable)',
  }),
  mtu: value<number | undefined>(parseInteger(MTU.minTunnel, MTU.maxTun), none, 'derived', {
    flag: 'mtu',
    help: 'TUN MTU (default: underlay MTU − 80)',
  }),
  helloIntervalMs: text(parseDuration, '5s', {
    flag: 'hello-interval',
    file: 'helloInterval',
    help: 'hello interval (±20% jitter)',
  }),
  peers: list(parsePeer, 'none', { flag: 'peer', help: 'also send hellos unicast to ADDR[%iface] (repeatable)' }),
  logLevel: text(
    (v) => {
      const s = parseString(v);
      if (!isLogLevel(s)) throw new Error(`${JSON.stringify(v)} is not one of debug, info, warn, error`);
      return s;
    },
    'info',
    { flag: 'log-level', help: 'debug, info, warn, error' },
  ),
  logFormat: text(parseEnum(['logfmt', 'json'] as const), 'logfmt', { flag: 'log-format', help: 'logfmt or json' }),
  metrics: value<string | undefined>(parseHostPort, none, 'off', {
    flag: 'metrics',
    help: 'serve Prometheus metrics on ADDRESS:PORT',
  }),
  maxNeighbors: text(parseInteger(1, LIMITS.maxNeighborsCeiling), String(LIMITS.defaultMaxNeighbors), {
    flag: 'max-neighbors',
    help: 'neighbour table bound',
  }),
  neighborTimeoutMs: text(parseDuration, '60s', {
    flag: 'neighbor-timeout',
    file: 'neighborTimeout',
    help: 'remove a silent neighbour (and its tunnel) after this long',
  }),
  /** Bit/s per direction; undefined = unlimited. */
  capacity: value<number | undefined>(parseRate, none, 'unlimited', {
    flag: 'capacity',
    help: 'bandwidth per direction (e.g. 100mbit)',
  }),
  share: text(parseShare, '1', { flag: 'share', help: 'fraction of capacity neighbour traffic may use (0–1)' }),
  scheduler: text(parseEnum(SCHEDULERS), 'wtb-drr', { flag: 'scheduler', help: SCHEDULERS.join(', ') }),
  defaultWeight: text(parseWeight, '1', { flag: 'default-weight', help: 'weight of neighbours without their own' }),
  neighbors: value<Record<string, NeighborSettings>>(parseNeighbors, { value: {} }, '{}', {
    flag: '',
    help: 'per-neighbour {"<pubkey>": {"weight": 3, "rate": "20mbit"}}',
    fileOnly: true,
  }),
  forwarding: text(parseEnum<ForwardingMode>(['mesh', 'strict', 'off']), 'mesh', {
    flag: 'forwarding',
    help: 'forwarding filter mode',
  }),
  enableForwarding: flag(false, {
    flag: 'enable-forwarding',
    help: 'set net.ipv4.ip_forward and net.ipv6.conf.all.forwarding to 1',
  }),
  babel: value<string | undefined>(
    (v) => {
      const s = parseString(v);
      parseBabelAddress(s);
      return s;
    },
    none,
    'off',
    { flag: 'babel', help: "babeld's local read-write socket (babeld -G): PORT, ADDRESS:PORT or /path" },
  ),
  babelInterface: text(parseBabelInterfaceOptions, 'type tunnel', {
    flag: 'babel-interface',
    help: 'babeld interface parameters sent with each tunnel (babeld does not apply its "default" line to interfaces added at run time)',
  }),
  gso: flag(true, { flag: 'gso', help: 'UDP GSO on send (--no-gso to turn off)' }),
  gro: flag(true, { flag: 'gro', help: 'UDP GRO on receive (--no-gro to turn off)' }),
  tunOffload: flag(true, {
    flag: 'tun-offload',
    help: 'TUN offloads: 64 KB TCP/UDP super-packets split before sealing and received segments coalesced before writing (--no-tun-offload to turn off)',
  }),
  fastPath: flag(true, {
    flag: 'fast-path',
    help: "native lone-packet path: a wake-up that brings one packet of a tunnel without traffic control is handled in C with OpenSSL's ChaCha20-Poly1305 from the Node binary (--no-fast-path to turn off)",
  }),
  crypto: text(parseEnum(['auto', 'sodium', 'js'] as const), 'auto', { flag: 'crypto', help: 'crypto backend' }),
} satisfies Record<string, Setting<unknown>>;

type Table = typeof TABLE;
type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** The daemon's configuration: one field per row of TABLE, of the type its parser returns. */
export type DaemonConfig = { -readonly [K in keyof Table]: ValueOf<Table[K]> };

/** The settings as a list (for --help, the README and tests): `key` is the config-file key. */
export interface SettingInfo {
  field: keyof DaemonConfig;
  key: string;
  flag: string;
  kind: Kind;
  parse: (v: unknown) => unknown;
  help: string;
  /** The default as shown. */
  def: string;
  fileOnly: boolean;
}

export const SETTINGS: readonly SettingInfo[] = (Object.keys(TABLE) as (keyof Table)[]).map((field) => {
  const s: Setting<unknown> = TABLE[field];
  return {
    field,
    key: s.file ?? field,
    flag: s.flag,
    kind: s.kind,
    parse: s.parse,
    help: s.help,
    def: s.shown,
    fileOnly: s.fileOnly === true,
  };
});

/** Line (1-based) where `"key"` first appears in the file text, for error messages. */
function lineOf(text: string, key: string, after = 0): number {
  const at = text.indexOf(`"${key}"`, after);
  if (at < 0) return 0;
  return text.slice(0, at).split('\n').length;
}

function fileError(path: string, text: string, key: string, msg: string, at?: string): ControlError {
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
 * the optional config file. Throws ControlError('ERR_CONFIG') naming the flag
 * or the file line and key.
 */
export function loadConfig(
  flags: Record<string, unknown>,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
  /** `scrooge doctor` checks a machine before any interface is chosen. */
  opts: { requireInterfaces: boolean } = { requireInterfaces: true },
): DaemonConfig {
  const values = new Map<keyof DaemonConfig, unknown>();
  const path = typeof flags.config === 'string' ? flags.config : undefined;
  if (path !== undefined) readConfigFile(path, readFile, values);
  for (const s of SETTINGS) {
    if (s.fileOnly) continue;
    const raw = flags[s.flag];
    const neg = flags[`no-${s.flag}`];
    try {
      if (s.kind === 'boolean') {
        if (raw === true) values.set(s.field, true);
        if (neg === true) values.set(s.field, false);
      } else if (s.kind === 'list') {
        if (Array.isArray(raw) && raw.length > 0) values.set(s.field, s.parse(raw));
      } else if (raw !== undefined) values.set(s.field, s.parse(raw));
    } catch (e) {
      throw new ControlError('ERR_CONFIG', `--${s.flag}: ${(e as Error).message}`);
    }
  }
  const stateDir = (values.get('stateDir') as string | undefined) ?? DEFAULT_STATE_DIR;
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(TABLE) as (keyof Table)[]) {
    const d: Default<unknown> = TABLE[field].default;
    out[field] = values.has(field) ? values.get(field) : 'value' in d ? d.value : d.from(stateDir);
  }
  // every field of TABLE is set above, each from its own parser or default
  const cfg = out as DaemonConfig;
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

function readConfigFile(path: string, readFile: (p: string) => string, values: Map<keyof DaemonConfig, unknown>): void {
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
    throw new ControlError('ERR_CONFIG', `${path}${line ? `:${line}` : ''}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ControlError('ERR_CONFIG', `${path}: must be a JSON object`);
  }
  for (const [k, raw] of Object.entries(obj as Record<string, unknown>)) {
    const s = SETTINGS.find((x) => x.key === k);
    if (!s) throw fileError(path, text, k, `unknown setting (known: ${SETTINGS.map((x) => x.key).join(', ')})`);
    try {
      values.set(s.field, s.parse(raw));
    } catch (e) {
      throw fileError(path, text, k, (e as Error).message, (e as { at?: string }).at);
    }
  }
}
