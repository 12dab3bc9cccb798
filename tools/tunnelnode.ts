/** The tunnel-node fixture's key format (test/fixtures/tunnel-node.ts): session keys as hex. */

export interface HexSessionKeys {
  sendKey: string;
  recvKey: string;
  sessionId: number;
}

export function hexSessionKeys(k: { sendKey: Uint8Array; recvKey: Uint8Array; sessionId: number }): HexSessionKeys {
  return {
    sendKey: Buffer.from(k.sendKey).toString('hex'),
    recvKey: Buffer.from(k.recvKey).toString('hex'),
    sessionId: k.sessionId,
  };
}
