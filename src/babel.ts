/**
 * babeld integration: registers each tunnel device with a running babeld
 * through its local read-write configuration socket (babeld -G), so
 * multi-hop routing runs over the tunnels.
 *
 *   tunnel up     → "interface <tun> <options>" (options: babelInterface,
 *                   default "type tunnel"; babeld applies its "default"
 *                   line only to interfaces configured at start)
 *   tunnel gone   → "flush interface <tun>"
 *   babeld restart → reconnect every LIMITS.babelReconnectMs, then register
 *                    every tunnel that is up again
 *
 * Requests are answered by lines ending in ok / no / bad (babeld(8), "LOCAL
 * CONFIGURATION INTERFACE"); commands are queued and sent one at a time.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from '../dataplane/log.js';
import { LIMITS } from './limits.js';

export interface BabelTarget {
  path?: string;
  host?: string;
  port?: number;
}

/** "33123" → [::1]:33123, "[::1]:33123", "127.0.0.1:33123", "/run/babeld.sock". */
export function parseBabelAddress(text: string): BabelTarget {
  if (text.startsWith('/')) return { path: text };
  if (/^\d{1,5}$/.test(text)) return { host: '::1', port: Number(text) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not PORT, ADDRESS:PORT or a socket path`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

export class BabelClient {
  private sock: Socket | undefined;
  private ready = false;
  private buf = '';
  private readonly queue: string[] = [];
  private inFlight: string | undefined;
  private readonly registered = new Set<string>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private connects = 0;
  private readonly target: BabelTarget;

  constructor(
    address: string,
    private readonly log: Logger,
    private readonly upTunnels: () => string[],
    private readonly options = 'type tunnel',
  ) {
    this.target = parseBabelAddress(address);
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const s = this.target.path ? connect(this.target.path) : connect(this.target.port ?? 0, this.target.host);
    this.sock = s;
    this.ready = false;
    this.buf = '';
    this.inFlight = undefined;
    s.setEncoding('utf8');
    s.on('data', (d: string) => this.onData(d));
    s.on('error', () => {
      // 'close' follows
    });
    s.on('close', () => {
      if (this.ready) this.log.warn('babeld connection lost; reconnecting');
      this.ready = false;
      this.sock = undefined;
      this.registered.clear();
      if (!this.closed) {
        this.reconnectTimer = setTimeout(() => this.connect(), LIMITS.babelReconnectMs);
        this.reconnectTimer.unref();
      }
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!this.ready) {
        if (line === 'ok') {
          this.ready = true;
          this.connects++;
          this.log.info('connected to babeld', {
            address: this.target.path ?? `${this.target.host}:${this.target.port}`,
          });
          this.queue.length = 0;
          for (const name of this.upTunnels()) this.enqueue(`interface ${name} ${this.options}`, name, true);
          this.pump();
        }
        continue;
      }
      if (line === 'ok' || line === 'no' || line === 'bad') {
        if (line !== 'ok' && this.inFlight)
          this.log.warn('babeld refused a request', { request: this.inFlight, reply: line });
        this.inFlight = undefined;
        this.pump();
      }
    }
  }

  private enqueue(cmd: string, name: string, up: boolean): void {
    if (up) this.registered.add(name);
    else this.registered.delete(name);
    this.queue.push(cmd);
  }

  private pump(): void {
    if (!this.ready || this.inFlight !== undefined || !this.sock) return;
    const cmd = this.queue.shift();
    if (cmd === undefined) return;
    this.inFlight = cmd;
    this.sock.write(`${cmd}\n`);
  }

  interfaceUp(name: string): void {
    if (this.registered.has(name)) return;
    this.enqueue(`interface ${name} ${this.options}`, name, true);
    this.pump();
  }

  interfaceDown(name: string): void {
    if (!this.registered.has(name)) return;
    this.enqueue(`flush interface ${name}`, name, false);
    this.pump();
  }

  status(): { connected: boolean; connects: number; interfaces: string[] } {
    return { connected: this.ready, connects: this.connects, interfaces: [...this.registered] };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const s = this.sock;
    if (!s) return;
    // let queued flushes go out before closing
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      const t = setTimeout(done, 500);
      const check = () => {
        if (this.queue.length === 0 && this.inFlight === undefined) {
          clearTimeout(t);
          done();
        } else setTimeout(check, 10);
      };
      check();
    });
    s.end('quit\n');
    s.destroy();
  }
}
