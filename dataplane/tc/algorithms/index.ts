/** The scheduling algorithms, by the name used in --scheduler and `scrooge set scheduler`. */
import type { AlgorithmFactory } from '../algorithm.js';
import { create as drr } from './drr.js';
import { create as fifo } from './fifo.js';
import { create as priority } from './priority.js';

export const ALGORITHMS: Readonly<Record<string, AlgorithmFactory>> = {
  'wtb-drr': drr,
  priority,
  fifo,
};
