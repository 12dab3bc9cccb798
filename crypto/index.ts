export * from './backend.js';
export * from './encoding.js';
export * from './errors.js';
export * from './identity.js';
export * from './kdf.js';
export * from './replay.js';
export * from './select.js';
