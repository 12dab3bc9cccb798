import test, { type Implementation } from 'ava';
import { isRoot } from './netns.js';

/**
 * A serial test that needs root (network namespaces, TUN devices, nftables).
 * Without root it is skipped, visibly and with the reason: it never passes
 * without having run.
 */
export function rootTest(title: string, impl: Implementation<[]>): void {
  if (isRoot()) test.serial(title, impl);
  else test.skip(`${title} (needs root: network namespaces, TUN devices)`, impl);
}
