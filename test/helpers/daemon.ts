/** Real daemons in lab namespaces: re-exported from tools/ (the benchmarks use them too). */
export * from '../../tools/daemons.js';
