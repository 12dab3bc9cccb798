/**
 * The admin API: JSON over HTTP/1.1 on a Unix socket (mode 0600, by default
 * <state-dir>/scrooge.sock), optionally also on a loopback TCP address.
 *
 *   GET  /v1/status                 daemon, interfaces, counters, traffic control, filter
 *   GET  /v1/neighbors              one entry per (neighbour, interface) link
 *   POST /v1/set                    {"weight": {"key": PK, "value": N}} | {"rate": …} | {"share": F}
 *                                   | {"capacity": RATE} | {"scheduler": NAME}
 *   GET  /v1/accounting[?reset=1]   per-neighbour bytes/packets each way, read atomically
 *   GET  /metrics                   Prometheus text format
 *
 * Errors: {"error": {"code": "ERR_…", "message": "…"}} with a status from the code.
 */
import { ScroogeError, isScroogeError } from '../base/errors.js';
import { DataplaneError } from '../dataplane/errors.js';
import { ControlError, type ControlErrorCode } from './errors.js';
import type { DataplaneErrorCode } from '../dataplane/errors.js';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from '../dataplane/log.js';
import { LIMITS } from './limits.js';

export interface ApiHandler {
  status(): unknown;
  neighbors(): unknown;
  set(body: unknown): unknown;
  accounting(reset: boolean): unknown;
  metrics(): string | Promise<string>;
}

const STATUS: Partial<Record<ControlErrorCode | DataplaneErrorCode, number>> = {
  ERR_USAGE: 400,
  ERR_CONFIG: 400,
  ERR_INVALID_ARGUMENT: 400,
  ERR_API_REQUEST: 400,
  ERR_API_NOT_FOUND: 404,
};

function reply(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = type === 'application/json' ? `${JSON.stringify(body, null, 2)}\n` : String(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorReply(res: ServerResponse, e: unknown, log: Logger, url: string | undefined): void {
  const err = isScroogeError(e) ? e : new ControlError('ERR_API_INTERNAL', (e as Error)?.message ?? String(e));
  if (err.code === 'ERR_API_INTERNAL') log.error('admin API request failed', { error: err.message, url: url ?? '' });
  reply(res, STATUS[err.code as keyof typeof STATUS] ?? 500, { error: { code: err.code, message: err.message } });
}

/**
 * A server that bounds what one client can hold: connections (more are
 * refused), time to send headers and a whole request (checked every second,
 * not Node's default 30 s), and idle sockets, including ones that never send
 * a byte (Node's request timeouts start with the first byte). A request the
 * HTTP parser rejects is answered 400 and closed by Node's clientError
 * handler; nothing a client sends reaches `uncaughtException`.
 */
function hardenedServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      headersTimeout: LIMITS.apiHeadersTimeoutMs,
      requestTimeout: LIMITS.apiRequestTimeoutMs,
      keepAliveTimeout: LIMITS.apiHeadersTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    handler,
  );
  server.maxConnections = LIMITS.apiMaxConnections;
  server.timeout = LIMITS.apiHeadersTimeoutMs; // idle socket: destroyed
  return server;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > LIMITS.apiMaxBodyBytes) throw new ControlError('ERR_API_REQUEST', 'request body too large');
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ControlError('ERR_API_REQUEST', 'request body is not JSON');
  }
}

function handle(api: ApiHandler, log: Logger) {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://scrooge');
    } catch {
      throw new ControlError('ERR_API_REQUEST', 'malformed request target');
    }
    const what = `${req.method} ${url.pathname}`;
    switch (what) {
      case 'GET /v1/status':
        return reply(res, 200, await api.status());
      case 'GET /v1/neighbors':
        return reply(res, 200, await api.neighbors());
      case 'POST /v1/set':
        return reply(res, 200, await api.set(await readBody(req)));
      case 'GET /v1/accounting':
      case 'POST /v1/accounting':
        return reply(res, 200, await api.accounting(url.searchParams.get('reset') === '1'));
      case 'GET /metrics':
        return reply(res, 200, await api.metrics(), 'text/plain; version=0.0.4');
      default:
        throw new ControlError('ERR_API_NOT_FOUND', `no such endpoint: ${what.slice(0, 200)}`);
    }
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res)
      .catch((e: unknown) => errorReply(res, e, log, req.url))
      .catch((e: unknown) => {
        // the error reply itself failed (the client went away): drop the connection, keep running
        log.debug('admin API reply failed', { error: (e as Error)?.message ?? String(e) });
        res.destroy();
      });
  };
}

/** True if something accepts connections on the Unix socket. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export interface ApiServers {
  close(): Promise<void>;
}

export async function startApi(
  api: ApiHandler,
  socketPath: string,
  httpAddr: string | undefined,
  log: Logger,
): Promise<ApiServers> {
  if (existsSync(socketPath)) {
    if (await socketAlive(socketPath)) {
      throw new ControlError('ERR_LOCKED', `another process serves the admin socket ${socketPath}`);
    }
    unlinkSync(socketPath); // stale, from a crashed daemon
  }
  const servers: Server[] = [];
  const unix = hardenedServer(handle(api, log));
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      unix.once('error', reject);
      unix.listen(socketPath, () => resolve());
    });
  } catch (e) {
    throw new ControlError('ERR_STATE_DIR', `cannot listen on ${socketPath}: ${(e as Error).message}`);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  servers.push(unix);
  if (httpAddr) {
    const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(httpAddr);
    const host = m?.[1] ?? m?.[2] ?? '127.0.0.1';
    if (!/^(127\.|::1$|localhost$)/.test(host)) {
      throw new ControlError(
        'ERR_CONFIG',
        `--api-http must be a loopback address, got ${host} (use --metrics for metrics on other addresses)`,
      );
    }
    const tcp = hardenedServer(handle(api, log));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', (e) => reject(new DataplaneError('ERR_SOCKET', `cannot listen on ${httpAddr}: ${e.message}`)));
      tcp.listen(Number(m?.[3]), host, () => resolve());
    });
    servers.push(tcp);
  }
  return {
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      try {
        unlinkSync(socketPath);
      } catch {
        // already gone
      }
    },
  };
}

/** Serves only GET /metrics on ADDRESS:PORT (any address: metrics carry no secrets). */
export async function startMetrics(api: ApiHandler, addr: string, log: Logger): Promise<ApiServers> {
  const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(addr);
  const host = m?.[1] ?? m?.[2] ?? '127.0.0.1';
  const server = hardenedServer((req, res) => {
    const serve = async () => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?')))
        reply(res, 200, await api.metrics(), 'text/plain; version=0.0.4');
      else reply(res, 404, { error: { code: 'ERR_API_NOT_FOUND', message: 'only GET /metrics here' } });
    };
    serve()
      .catch((e: unknown) => errorReply(res, e, log, req.url))
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new DataplaneError('ERR_SOCKET', `cannot serve metrics on ${addr}: ${e.message}`)),
    );
    server.listen(Number(m?.[3]), host, () => resolve());
  });
  return { close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Client side: one request to the daemon's Unix socket. */
export function apiRequest(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.headers['content-type'] ?? '').startsWith('text/plain')) return resolve(text);
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(
              new ControlError('ERR_API_INTERNAL', `daemon sent a non-JSON reply (status ${res.statusCode})`),
            );
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (json as { error?: { code?: string; message?: string } }).error;
            return reject(new ScroogeError(e?.code ?? 'ERR_API_INTERNAL', e?.message ?? `status ${res.statusCode}`));
          }
          resolve(json);
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(
          new ControlError(
            'ERR_API_UNREACHABLE',
            `no scrooge daemon is running at ${socketPath} (start one with scrooge up, or pick one with --api/--state-dir)`,
          ),
        );
      } else if (e.code === 'EACCES') {
        reject(
          new ControlError(
            'ERR_PERMISSION',
            `permission denied on ${socketPath} (the admin socket is mode 0600: run as the daemon's user)`,
          ),
        );
      } else reject(new ControlError('ERR_API_UNREACHABLE', `cannot reach the daemon at ${socketPath}: ${e.message}`));
    });
    if (payload) req.write(payload);
    req.end();
  });
}
