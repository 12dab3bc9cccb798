/**
 * `scrooge doctor`: everything a node needs, checked on this machine, each
 * with OK or what to install or change. `scrooge up` runs the same checks at
 * start: a `fail` refuses to start with the same message, a `warn` is logged.
 *
 * Each check is a function from the configuration to one result; none of
 * them changes the machine (the TUN probe opens a non-persistent device that
 * vanishes with its fd; the nftables check uses `nft --check`).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { selectBackend } from '../crypto/index.js';
import { addonInfo, native, type NativeApi } from '../dataplane/native.js';
import { parseBabelAddress } from './babel.js';
import type { DaemonConfig } from './config.js';
import { SEQ_RESERVE_BLOCK } from './control/seq.js';
import { explainNft, tableRuleset } from './filter.js';
import { readInterfaces } from './interfaces.js';
import { findSystemBinary } from './system.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable identifier (for scripts). */
  id: string;
  /** What was checked, for people. */
  title: string;
  status: CheckStatus;
  /** What was found; for warn/fail, also what to do about it. */
  detail: string;
}

const CAP_NET_ADMIN = 12;
/** Before this the wall clock was surely never set (no RTC, no NTP yet). */
const CLOCK_SANE_AFTER = Date.UTC(2024, 0, 1);

const ok = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'ok', detail });
const warn = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'warn', detail });
const fail = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'fail', detail });
const skip = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'skip', detail });

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function checkTunDevice(): CheckResult {
  const title = 'TUN device';
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
    return ok('tun', title, '/dev/net/tun opens read-write');
  } catch (e) {
    if (errCode(e) === 'ENOENT')
      return fail(
        'tun',
        title,
        '/dev/net/tun does not exist: load the module (modprobe tun); in a container, pass the device (docker run --device /dev/net/tun)',
      );
    if (errCode(e) === 'EACCES' || errCode(e) === 'EPERM')
      return fail(
        'tun',
        title,
        '/dev/net/tun: permission denied: run as root (or give this user the device and CAP_NET_ADMIN)',
      );
    return fail('tun', title, `/dev/net/tun: ${(e as Error).message}`);
  }
}

/** Effective capabilities of this process, from /proc/self/status (bigint bit mask). */
export function effectiveCapabilities(status: string | undefined): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? '');
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** `status`: the text of /proc/self/status (read when not given). */
export function checkNetAdmin(status = readText('/proc/self/status')): CheckResult {
  const title = 'CAP_NET_ADMIN';
  const caps = effectiveCapabilities(status);
  if (caps === undefined) return warn('cap_net_admin', title, 'cannot read /proc/self/status; assuming it is there');
  if ((caps >> BigInt(CAP_NET_ADMIN)) & 1n) return ok('cap_net_admin', title, 'effective');
  return fail(
    'cap_net_admin',
    title,
    'missing: run as root, or grant it (systemd: AmbientCapabilities=CAP_NET_ADMIN; or setcap cap_net_admin+ep on the node binary)',
  );
}

export function checkNftables(cfg: DaemonConfig): CheckResult {
  const title = 'nftables';
  if (cfg.forwarding === 'off') return skip('nftables', title, 'not needed: --forwarding off');
  const nft = findSystemBinary('nft');
  if (!nft)
    return fail(
      'nftables',
      title,
      'nft is not installed: apt-get install nftables (or run with --forwarding off if you manage the firewall yourself)',
    );
  // --check sends the whole table to the kernel in a batch that is then aborted: it proves the
  // kernel has nf_tables with the inet family, the forward hook, sets and named counters.
  const r = spawnSync(nft, ['--check', '-f', '-'], {
    input: tableRuleset(cfg.forwarding, cfg.interfaces, []),
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status === 0) return ok('nftables', title, `${nft}; the kernel accepts the inet scrooge table`);
  return fail(
    'nftables',
    title,
    `the kernel refused the table: ${explainNft(r.stderr || r.error?.message || '').replace(/\s*\n\s*/g, ' ')}`,
  );
}

export function checkIPv6(): CheckResult {
  const title = 'IPv6';
  if (!existsSync('/proc/net/if_inet6'))
    return fail(
      'ipv6',
      title,
      'IPv6 is not available (ipv6.disable=1 on the kernel command line?): discovery needs it',
    );
  if (readText('/proc/sys/net/ipv6/conf/all/disable_ipv6') === '1')
    return fail(
      'ipv6',
      title,
      'disabled: sysctl -w net.ipv6.conf.all.disable_ipv6=0 (discovery runs on link-local IPv6)',
    );
  return ok('ipv6', title, 'enabled');
}

export function checkInterfaces(cfg: DaemonConfig): CheckResult[] {
  if (cfg.interfaces.length === 0) return [skip('interfaces', 'mesh interfaces', 'none given (--interface IFACE)')];
  const found = readInterfaces(cfg.interfaces);
  return cfg.interfaces.map((name) => {
    const id = `interface:${name}`;
    const title = `interface ${name}`;
    const i = found.get(name);
    if (!i) return warn(id, title, 'not present: scrooge waits for it to appear');
    if (!i.up) return warn(id, title, `down: ip link set ${name} up (scrooge waits for it)`);
    if (readText(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`) === '1')
      return warn(id, title, `IPv6 is disabled on it: sysctl -w net.ipv6.conf.${name}.disable_ipv6=0`);
    if (!i.linkLocal)
      return warn(
        id,
        title,
        `no IPv6 link-local address yet (addrgenmode none?): ip link set ${name} addrgenmode eui64, or add an fe80:: address`,
      );
    return ok(id, title, `up, mtu ${i.mtu}, link-local present`);
  });
}

export function checkAddon(): CheckResult {
  const title = 'native addon';
  try {
    native();
    const info = addonInfo();
    const where = info ? info.path : 'unknown path';
    return ok('addon', title, `${info?.prebuilt ? 'prebuilt' : 'built from source'}: ${where}`);
  } catch (e) {
    return fail('addon', title, (e as Error).message);
  }
}

/** The addon, or undefined when it does not load (the addon check reports that once). */
function addon(): NativeApi | undefined {
  try {
    return native();
  } catch {
    return undefined;
  }
}

export function checkUdpOffload(cfg: DaemonConfig): CheckResult {
  const title = 'UDP GSO/GRO';
  const n = addon();
  if (!n) return skip('udp_offload', title, 'the native addon does not load');
  try {
    const s = n.udpOpen({ family: 6, port: 0, gro: true });
    n.closeFd(s.fd);
    const parts = [
      `GSO ${s.gso ? 'yes' : 'no'}${cfg.gso ? '' : ' (off: --no-gso)'}`,
      `GRO ${s.gro ? 'yes' : 'no'}${cfg.gro ? '' : ' (off: --no-gro)'}`,
    ];
    if (!s.gso || !s.gro)
      return warn(
        'udp_offload',
        title,
        `${parts.join(', ')}: batches go one datagram per packet (slower; Linux >= 5.0 has both)`,
      );
    return ok('udp_offload', title, parts.join(', '));
  } catch (e) {
    return fail('udp_offload', title, `cannot open a UDP socket: ${(e as Error).message}`);
  }
}

export function checkFastPath(cfg: DaemonConfig): CheckResult {
  const title = 'native lone-packet path';
  const n = addon();
  if (!n) return skip('fast_path', title, 'the native addon does not load');
  if (!cfg.fastPath) return ok('fast_path', title, 'off (--no-fast-path): every packet goes through JavaScript');
  const why = n.Express.available();
  if (why !== null)
    return warn(
      'fast_path',
      title,
      `unavailable (${why}): lone packets go through JavaScript (about 100 µs more per round trip)`,
    );
  return ok('fast_path', title, `on: lone packets are handled in C (ChaCha20-Poly1305 from ${n.Express.AEAD})`);
}

export function checkTunOffload(cfg: DaemonConfig): CheckResult {
  const title = 'TUN offloads';
  const n = addon();
  if (!n) return skip('tun_offload', title, 'the native addon does not load');
  try {
    const p = n.tunProbeOffload();
    const f = [`checksum ${p.csum ? 'yes' : 'no'}`, `TSO ${p.tso ? 'yes' : 'no'}`, `USO ${p.uso ? 'yes' : 'no'}`];
    if (!cfg.tunOffload)
      return ok('tun_offload', title, `off (--no-tun-offload); the kernel offers ${p.vnetHdr ? f.join(', ') : 'none'}`);
    if (!p.vnetHdr || !p.tso)
      return warn(
        'tun_offload',
        title,
        `${p.vnetHdr ? f.join(', ') : 'no IFF_VNET_HDR'}: every packet crosses the TUN device on its own ` +
          '(TCP through a tunnel about half as fast; a newer kernel has them)',
      );
    return ok('tun_offload', title, `virtio-net header yes, ${f.join(', ')}: 64 KB super-packets both ways`);
  } catch (e) {
    return skip('tun_offload', title, `cannot probe: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function checkCrypto(cfg: DaemonConfig): CheckResult {
  const title = 'crypto backend';
  try {
    const sel = selectBackend(cfg.crypto);
    if (sel.fallbackReason)
      return warn(
        'crypto',
        title,
        `pure JS (about 9x slower per packet): libsodium did not load (${sel.fallbackReason.split('\n')[0]}); sodium-native ships prebuilds for linux x64 and arm64`,
      );
    return ok('crypto', title, `${sel.backend.name}${cfg.crypto === 'js' ? ' (chosen by --crypto js)' : ''}`);
  } catch (e) {
    return fail('crypto', title, `${(e as Error).message} (use --crypto auto to fall back to pure JS)`);
  }
}

/** Can we open a connection to babeld's local socket (1 s)? */
function reachable(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let t;
    try {
      t = parseBabelAddress(address);
    } catch (e) {
      resolve((e as Error).message);
      return;
    }
    const sock = t.path ? connect(t.path) : connect(t.port ?? 0, t.host);
    const done = (err: string | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done('no answer within 1 s'), 1000);
    sock.once('connect', () => done(undefined));
    sock.once('error', (e) => done(e.message));
  });
}

export async function checkBabel(cfg: DaemonConfig): Promise<CheckResult> {
  const title = 'babeld';
  if (!cfg.babel) return skip('babeld', title, 'not used (no --babel)');
  const err = await reachable(cfg.babel);
  if (err === undefined) return ok('babeld', title, `answers on ${cfg.babel}`);
  const installed = findSystemBinary('babeld') !== undefined;
  return warn(
    'babeld',
    title,
    `not reachable on ${cfg.babel} (${err}): ${installed ? 'start it with -G' : 'apt-get install babeld, then start it with -G'} ${cfg.babel}; scrooge keeps retrying`,
  );
}

/** The wall clock against the sequence floor of the last run (`seq` in the state directory). */
export function checkClock(cfg: DaemonConfig, nowMs = Date.now()): CheckResult {
  const title = 'clock';
  const text = readText(join(cfg.stateDir, 'seq'));
  const stored = text !== undefined && /^\d+$/.test(text) ? BigInt(text) : undefined;
  if (text !== undefined && stored === undefined)
    return fail(
      'clock',
      title,
      `${join(cfg.stateDir, 'seq')} is corrupt: restore it, or remove it only if the key is new`,
    );
  const lastRunUs = stored === undefined ? undefined : stored - SEQ_RESERVE_BLOCK;
  const nowUs = BigInt(Math.floor(nowMs)) * 1000n;
  if (nowMs < CLOCK_SANE_AFTER)
    return warn(
      'clock',
      title,
      `the wall clock says ${new Date(nowMs).toISOString()} (never set? no RTC?): safe, sequence numbers continue from the stored floor, but log times are wrong; enable NTP`,
    );
  if (lastRunUs !== undefined && lastRunUs > nowUs + 60_000_000n)
    return warn(
      'clock',
      title,
      `the wall clock is ${Number((lastRunUs - nowUs) / 1_000_000n)} s behind the last run: safe, sequence numbers continue from the stored floor; check NTP`,
    );
  return ok(
    'clock',
    title,
    stored === undefined ? 'sane (no earlier run)' : 'sane, ahead of the stored sequence floor',
  );
}

export function checkStateDir(cfg: DaemonConfig, uid = process.getuid?.() ?? 0): CheckResult[] {
  const out: CheckResult[] = [];
  const dir = cfg.stateDir;
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if (errCode(e) !== 'ENOENT') out.push(fail('state_dir', 'state directory', `${dir}: ${(e as Error).message}`));
    else {
      const parent = dirname(dir);
      try {
        accessSync(existsSync(parent) ? parent : '/', constants.W_OK);
        out.push(ok('state_dir', 'state directory', `${dir} will be created (mode 0700)`));
      } catch {
        out.push(fail('state_dir', 'state directory', `${dir} does not exist and ${parent} is not writable`));
      }
    }
  }
  if (st) {
    if (!st.isDirectory()) out.push(fail('state_dir', 'state directory', `${dir} is not a directory`));
    else if (st.uid !== uid)
      out.push(
        fail('state_dir', 'state directory', `${dir} belongs to uid ${st.uid}, not to us (uid ${uid}): chown it`),
      );
    else if (st.mode & 0o022)
      out.push(
        fail(
          'state_dir',
          'state directory',
          `${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): another user could replace the key or the sequence floor; chmod 700 ${dir}`,
        ),
      );
    else out.push(ok('state_dir', 'state directory', `${dir}, mode ${(st.mode & 0o777).toString(8)}`));
  }
  try {
    const k = statSync(cfg.key);
    if (k.mode & 0o077)
      out.push(
        fail(
          'key_file',
          'identity key',
          `${cfg.key} is readable by others (mode ${(k.mode & 0o777).toString(8)}): chmod 600 ${cfg.key}`,
        ),
      );
    else out.push(ok('key_file', 'identity key', `${cfg.key}, mode ${(k.mode & 0o777).toString(8)}`));
  } catch (e) {
    if (errCode(e) === 'ENOENT') out.push(ok('key_file', 'identity key', `${cfg.key} will be created (mode 0600)`));
    else out.push(fail('key_file', 'identity key', `${cfg.key}: ${(e as Error).message}`));
  }
  return out;
}

/** A check that throws (a bug, or something no check foresaw) is a failure naming it, never a crash. */
async function contained(
  id: string,
  title: string,
  run: () => CheckResult[] | Promise<CheckResult[]>,
): Promise<CheckResult[]> {
  try {
    return await run();
  } catch (e) {
    return [fail(id, title, `the check itself failed: ${(e as Error).message.split('\n')[0]}`)];
  }
}

/** Every check, in the order they are shown. */
export async function runChecks(cfg: DaemonConfig): Promise<CheckResult[]> {
  const checks: Array<[string, string, () => CheckResult[] | Promise<CheckResult[]>]> = [
    ['tun', 'TUN device', () => [checkTunDevice()]],
    ['cap_net_admin', 'CAP_NET_ADMIN', () => [checkNetAdmin()]],
    ['nftables', 'nftables', () => [checkNftables(cfg)]],
    ['ipv6', 'IPv6', () => [checkIPv6()]],
    ['interfaces', 'mesh interfaces', () => checkInterfaces(cfg)],
    ['addon', 'native addon', () => [checkAddon()]],
    ['udp_offload', 'UDP GSO/GRO', () => [checkUdpOffload(cfg)]],
    ['tun_offload', 'TUN offloads', () => [checkTunOffload(cfg)]],
    ['fast_path', 'native lone-packet path', () => [checkFastPath(cfg)]],
    ['crypto', 'crypto backend', () => [checkCrypto(cfg)]],
    ['babeld', 'babeld', async () => [await checkBabel(cfg)]],
    ['clock', 'clock', () => [checkClock(cfg)]],
    ['state_dir', 'state directory', () => checkStateDir(cfg)],
  ];
  const results: CheckResult[] = [];
  for (const [id, title, run] of checks) results.push(...(await contained(id, title, run)));
  return results;
}

/** The one-line form of a result (doctor's table and up's refusal use the same words). */
export function describe(r: CheckResult): string {
  return `${r.title}: ${r.detail}`;
}
