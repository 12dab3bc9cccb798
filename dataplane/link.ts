/**
 * TUN device setup: open by name (IFF_TUN | IFF_NO_PI, non-blocking; with
 * offloads IFF_VNET_HDR and TUNSETOFFLOAD for checksums, TSO and USO), turn
 * off the kernel's own IPv6 link-local generation (the only link-local is the
 * one derived from the node key) and router discovery, set the MTU, add addresses (rtnetlink, no
 * DAD), bring the link up. No process is spawned.
 *
 * The device disappears when its fd is closed, so a crashed daemon leaves no
 * devices behind.
 */
import { isScroogeError } from '../base/errors.js';
import { DataplaneError } from './errors.js';
import { MTU } from '../base/constants.js';
import { existsSync, writeFileSync } from 'node:fs';
import { native, nativeError } from './native.js';

export interface InterfaceAddress {
  family: 4 | 6;
  address: Uint8Array;
  prefixLen: number;
}

/** What a TUN device was opened with (tunOpen): a virtio-net header, TSO (and checksum offload), USO. */
export interface TunOffload {
  readonly vnetHdr: boolean;
  readonly tso: boolean;
  readonly uso: boolean;
}

export const NO_OFFLOAD: TunOffload = { vnetHdr: false, tso: false, uso: false };

export interface TunDevice {
  readonly name: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly offload: TunOffload;
}

/** Per-device IPv6 settings written before a TUN device goes up. */
export const DEVICE_IPV6_CONF: ReadonlyArray<readonly [string, string]> = [
  ['addr_gen_mode', '1'],
  ['accept_ra', '0'],
];

/** Writes net.ipv6.conf.<dev>.<key>; a missing or read-only /proc (some containers) is not an error. */
function writeDeviceConf(dev: string, key: string, value: string): void {
  const path = `/proc/sys/net/ipv6/conf/${dev}/${key}`;
  if (!existsSync(path)) return;
  try {
    writeFileSync(path, value);
  } catch {
    // read-only /proc: the kernel's defaults stay (an extra link-local, router solicitations)
  }
}

/** Creates and configures a TUN device; `offload` asks for the virtio-net header and TSO/USO. */
export function openTunDevice(name: string, mtu: number, addresses: InterfaceAddress[], offload = false): TunDevice {
  if (!Number.isInteger(mtu) || mtu < MTU.minIPv4 || mtu > MTU.maxTun) {
    throw new DataplaneError('ERR_DEVICE', `${name}: MTU ${mtu} out of range`);
  }
  const n = native();
  let dev: { fd: number; name: string } & TunOffload;
  try {
    dev = n.tunOpen(name, false, offload);
  } catch (e) {
    throw nativeError('ERR_DEVICE', `cannot create TUN device ${name}`, e);
  }
  try {
    // Before the link goes up: no kernel-made link-local (addr_gen_mode 1 = none), and no router
    // discovery (accept_ra 0): the kernel would otherwise send router solicitations on every tunnel
    // (at 4, 8, 16 … s after link-up, then hourly, forever: wake-ups on both ends of each tunnel),
    // and a neighbour's router advertisement could add a default route or an address. Routes on a
    // tunnel come from babeld, never from RAs.
    for (const [key, value] of DEVICE_IPV6_CONF) writeDeviceConf(dev.name, key, value);
    n.linkSetMtu(dev.name, mtu);
    const ifindex = n.linkIndex(dev.name);
    for (const a of addresses) {
      if (a.family === 6 && mtu < MTU.minTunnel) continue; // IPv6 needs 1280
      n.addrChange(ifindex, a.address, a.prefixLen, true);
    }
    n.linkSetUp(dev.name, true);
    return {
      name: dev.name,
      fd: dev.fd,
      ifindex,
      offload: { vnetHdr: dev.vnetHdr, tso: dev.tso, uso: dev.uso },
    };
  } catch (e) {
    n.closeFd(dev.fd);
    throw isScroogeError(e) ? e : nativeError('ERR_DEVICE', `cannot configure TUN device ${name}`, e);
  }
}
