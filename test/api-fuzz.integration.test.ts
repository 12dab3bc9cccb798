/**
 * The admin API and the metrics server under hostile clients (a local
 * unprivileged user on the loopback ports, anyone who reaches --metrics):
 *
 *   [a] va ──── vb [b]        a: scrooge up --api-http 127.0.0.1:9181 --metrics 127.0.0.1:9182
 *    ▲
 *    └── from the test: malformed request lines and targets (GET //[ took 0.1.0 down and
 *        removed the firewall), oversized headers, broken bodies, binary garbage,
 *        random request lines, slow clients holding connections, bursts of connections
 *
 * Afterwards the daemon must still answer, its tunnel must still be up, and
 * the forwarding filter (nft table inet scrooge) must still be installed.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { neighbors, startDaemon, status, waitUp } from './helpers/daemon.js';
import { Lab, NFT, waitFor } from './helpers/netns.js';
import { rootTest } from './helpers/root.js';

const HOSTILE: string[] = [
  'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET //%%% HTTP/1.1\r\n\r\n',
  'GET /v1/status?%E0%A4%A HTTP/1.1\r\n\r\n',
  'GARBAGE\r\n\r\n',
  '\u0000\u00ff\u00fe\r\n\r\n',
  `GET /v1/status HTTP/1.1\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
  'POST /v1/set HTTP/1.1\r\nContent-Length: 5\r\n\r\n{"wei',
  'POST /v1/set HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n',
  `POST /v1/set HTTP/1.1\r\nContent-Length: 200001\r\n\r\n${'['.repeat(200_000)}`,
  'POST /v1/set HTTP/1.1\r\nContent-Length: 30\r\n\r\n{"weight":{"key":[],"value":{}}}',
  'POST /v1/set HTTP/1.1\r\nContent-Length: 32\r\n\r\n{"__proto__":{"polluted":true}}',
  'POST /v1/set HTTP/1.1\r\nContent-Length: 4\r\n\r\nnull',
  'GET /v1/accounting?reset=1&reset=0 HTTP/1.1\r\n\r\n',
  'DELETE /v1/status HTTP/1.1\r\n\r\n',
  'GET /metrics HTTP/1.0\r\n\r\n',
  'GET / HTTP/9.9\r\n\r\n',
];

/** Sends raw bytes on a new connection; resolves with what came back (or '' after 5 s). */
function raw(target: { path: string } | { port: number; host: string }, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('connect', () => s.end(Buffer.from(data, 'latin1')));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** The same, from inside a namespace (the loopback HTTP servers live there); cases arrive on stdin. */
function rawInNs(lab: Lab, ns: string, port: number, cases: string[]): string {
  const script =
    `const net=require('net');let input='';process.stdin.on('data',d=>input+=d);process.stdin.on('end',()=>{` +
    `const cases=JSON.parse(input);let n=0,ans=0;const next=()=>{if(n===cases.length){console.log('done '+ans);return}` +
    `const s=net.connect(${port},'127.0.0.1');const t=setTimeout(()=>s.destroy(),5000);let got='';` +
    `s.on('connect',()=>s.end(Buffer.from(cases[n++],'base64')));s.on('data',d=>got+=d);s.on('error',()=>{});` +
    `s.on('close',()=>{clearTimeout(t);if(got.startsWith('HTTP/1.1 '))ans++;next()})};next();});`;
  const input = JSON.stringify(cases.map((c) => Buffer.from(c, 'latin1').toString('base64')));
  return lab.exec(ns, ['node', '-e', script], { input, timeoutMs: 120_000 }).trim();
}

rootTest(
  'malformed, random, slow and numerous API and metrics clients: the daemon keeps running and the filter stays',
  async (t) => {
    const lab = new Lab('af');
    t.teardown(() => lab.cleanup());
    const a = lab.addNs('a');
    const b = lab.addNs('b');
    lab.veth(a, 'va', b, 'vb');
    await lab.ready();
    const [da, db] = await Promise.all([
      startDaemon(lab, a, 'a', ['va'], ['--api-http', '127.0.0.1:9181', '--metrics', '127.0.0.1:9182']),
      startDaemon(lab, b, 'b', ['vb']),
    ]);
    await Promise.all([waitUp(da, 1), waitUp(db, 1)]);

    const t0 = Date.now();
    const stage = (what: string) => t.log(`${what} after ${Date.now() - t0} ms`);
    // 1. Hand-written hostile requests on all three servers.
    const sock = { path: da.api };
    for (const c of HOSTILE) {
      const answer = await raw(sock, c);
      t.true(answer === '' || /^HTTP\/1\.[01] [2-5]\d\d /.test(answer), `answer to ${JSON.stringify(c.slice(0, 40))}`);
    }
    t.regex(rawInNs(lab, a, 9181, HOSTILE), /^done \d+$/);
    t.regex(rawInNs(lab, a, 9182, HOSTILE), /^done \d+$/);
    const broken = await raw(sock, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
    t.regex(broken, /^HTTP\/1\.1 400 /, 'a malformed target is a 400, not a crash');

    stage('hand-written cases');
    // 2. Random request lines and headers.
    const lines = fc.sample(
      fc.tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'X'),
        fc.string({ maxLength: 60 }),
        fc.string({ maxLength: 200 }),
      ),
      { numRuns: 300, seed: 0x5c },
    );
    for (const [m, target, body] of lines) {
      await raw(sock, `${m} ${target} HTTP/1.1\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`);
    }

    stage('random cases');
    // 3. Slow clients hold every connection slot; they are cut off by the header timeout and service resumes.
    const idle = Array.from({ length: 40 }, () => connect(da.api));
    t.teardown(() => idle.forEach((s) => s.destroy()));
    await Promise.all(idle.map((s) => new Promise<void>((r) => s.on('connect', () => r()).on('error', () => r()))));
    const closed = Promise.all(idle.map((s) => new Promise<void>((r) => s.on('close', () => r()))));
    await closed; // the server drops them (idle timeout, or refused over the connection limit)
    // and serves again once it has counted them closed (its close handlers run just after ours see the FIN)
    await waitFor('the API serving again', async () => (await status(da)).publicKey !== undefined, 10_000, 50);

    stage('slow clients cut off');
    // 4. A burst of concurrent metrics and status requests: over the connection limit the rest is refused.
    const request = (i: number) =>
      raw(sock, `GET ${i % 2 ? '/metrics' : '/v1/status'} HTTP/1.1\r\nHost: scrooge\r\n\r\n`);
    const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => request(i)));
    const served = burst.filter((x) => x.startsWith('HTTP/1.1 200 ')).length;
    // up to the connection limit (32, less what other clients hold) is served, the rest refused at once
    t.true(served > 0, `100 at once: ${served} served`);
    t.true(
      burst.every((x) => x === '' || x.startsWith('HTTP/1.1 200 ')),
      'every other connection was refused (closed), none hung or failed',
    );
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => request(i)));
      t.is(answers.filter((x) => x.startsWith('HTTP/1.1 200 ')).length, 25, 'waves under the limit are all served');
    }
    stage('burst');
    // Still running, tunnel still up, filter still there.
    t.is(da.proc.child.exitCode, null, `a exited: ${da.proc.lines.slice(-5).join(' | ')}`);
    t.is((await status(da)).publicKey !== undefined, true);
    t.is((await neighbors(da))[0]?.state, 'up');
    t.is(lab.run(a, [NFT, 'list', 'table', 'inet', 'scrooge']).status, 0, 'the filter is still installed');
  },
);
