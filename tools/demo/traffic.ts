/**
 * The demo's traffic: a TCP sink that discards, and senders that push as
 * fast as TCP allows (reconnecting after errors), plus a UDP probe pair for
 * the forwarding-filter demonstration. Run inside the demo's namespaces:
 *
 *   node traffic.js sink PORT               TCP sink
 *   node traffic.js send HOST PORT          TCP sender
 *   node traffic.js probe-sink PORT         UDP listener, prints "got N" per datagram
 *   node traffic.js probe HOST PORT COUNT   COUNT UDP datagrams, 10 ms apart
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, a, b, c] = process.argv.slice(2);

function sink(port: number): void {
  createServer((s) => {
    s.on('data', () => {});
    s.on('error', () => {});
  }).listen(port, () => console.log(`listening ${port}`));
}

function send(host: string, port: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const go = () => {
    const s = connect(port, host);
    const pump = () => {
      while (s.write(chunk)) {
        // until the socket buffer is full
      }
    };
    s.on('connect', pump);
    s.on('drain', pump);
    s.on('error', () => {});
    s.on('close', () => setTimeout(go, 200));
  };
  go();
}

function probeSink(port: number): void {
  let n = 0;
  const u = createSocket({ type: 'udp6', ipv6Only: false });
  u.on('message', () => console.log(`got ${++n}`));
  u.bind(port, () => console.log(`listening ${port}`));
}

function probe(host: string, port: number, count: number): void {
  const u = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let i = 0;
  const t = setInterval(() => {
    u.send(`raw probe ${i}`, port, host);
    if (++i >= count) {
      clearInterval(t);
      setTimeout(() => u.close(), 50);
    }
  }, 10);
}

switch (mode) {
  case 'sink':
    sink(Number(a));
    break;
  case 'send':
    send(a ?? '', Number(b));
    break;
  case 'probe-sink':
    probeSink(Number(a));
    break;
  case 'probe':
    probe(a ?? '', Number(b), Number(c ?? 10));
    break;
  default:
    console.error('usage: traffic.js sink PORT | send HOST PORT | probe-sink PORT | probe HOST PORT COUNT');
    process.exit(2);
}
