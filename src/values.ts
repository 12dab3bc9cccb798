/**
 * Parsers for setting values (config file, flags, the admin API and `scrooge set`):
 * each takes what a user wrote and returns the typed value, or throws an Error
 * whose message says what is wrong (the caller names the flag, line or field).
 */
import { fromBase64Exact } from '../crypto/index.js';
import { LIMITS } from '../base/constants.js';
import { type InterfaceAddress } from '../dataplane/link.js';
import { parseIPv4, parseIPv6, parsePrefix } from '../dataplane/sockaddr.js';

export interface NeighborSettings {
  weight?: number;
  /** Cap in bit/s; null = no cap. */
  rate?: number | null;
}

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

export function parseInteger(min: number, max: number) {
  return (v: unknown): number => {
    const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
    throw new Error(`${JSON.stringify(v)} is not an integer from ${min} to ${max}`);
  };
}

export function parseString(v: unknown): string {
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

export function parseBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`${JSON.stringify(v)} is not true or false`);
}

export function parseEnum<T extends string>(values: readonly T[]) {
  return (v: unknown): T => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    throw new Error(`${JSON.stringify(v)} is not one of ${values.join(', ')}`);
  };
}

export function parseIfname(v: unknown): string {
  const s = parseString(v);
  if (s.length > 15 || !/^[A-Za-z0-9_.:@-]+$/.test(s)) throw new Error(`${JSON.stringify(v)} is not an interface name`);
  return s;
}

export function parseAddress(v: unknown): InterfaceAddress {
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

export function parseHostPort(v: unknown): string {
  const s = parseString(v);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535 || !(parseIPv6(m[1] ?? '') || parseIPv4(m[2] ?? ''))) {
    throw new Error(`${JSON.stringify(v)} is not ADDRESS:PORT (e.g. 127.0.0.1:9481 or [::1]:9481)`);
  }
  return s;
}

export function parseNeighbors(v: unknown): Record<string, NeighborSettings> {
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
