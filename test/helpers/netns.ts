/** Test helpers for network-namespace labs: re-exported from tools/ (the demo and the benchmarks use them too). */
export { hasCommand, isRoot, Lab, markFilter, NFT, type Proc, waitFor } from '../../tools/lab.js';
export { pcapFrames, udpPayloads } from '../../tools/pcap.js';
