/**
 * TUN device setup: open by name (IFF_TUN | IFF_NO_PI, non-blocking; with
 * offloads IFF_VNET_HDR and TUNSETOFFLOAD for checksums, TSO and USO), turn
 * off the kernel's own IPv6 link-local generation (the only link-local is the
 * one derived from the node key), set the MTU, add addresses (rtnetlink, no
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
    // Before the link goes up: no kernel-made link-local (addr_gen_mode 1 = none).
    const conf = `/proc/sys/net/ipv6/conf/${dev.name}/addr_gen_mode`;
    if (existsSync(conf)) {
      try {
        writeFileSync(conf, '1');
      } catch {
        // read-only /proc (some containers): the extra address is harmless
      }
    }
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
