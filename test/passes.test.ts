/**
 * bench/passes' trace parser and pass splitter, on ftrace text of the shape the
 * kernel writes (no root, no tracefs).
 */
import test from 'ava';
import { parseTrace, passes } from '../bench/passes.js';

// A ping at the far end: woken by the UDP datagram, writes it to the TUN device (the kernel
// answers inside the write), reads the answer, sends it, is preempted inside the send, sleeps.
const TRACE = `# tracer: nop
#
            node-42      [001] ..... 99.900000: sys_epoll_pwait(epfd: 3, events: 1, maxevents: 400, timeout: 1)
          <idle>-0       [001] dNh2. 100.000000: sched_wakeup: comm=node pid=42 prio=120 target_cpu=001
            node-42      [001] ..... 100.000020: sys_epoll_pwait -> 0x1
            node-42      [001] ..... 100.000030: sys_recvmmsg(fd: 10, mmsg: 1, vlen: 10, flags: 40, timeout: 0)
            node-42      [001] ..... 100.000035: sys_recvmmsg -> 0x1
            node-42      [001] ..... 100.000060: sys_writev(fd: 11, vec: 1, vlen: 2)
            node-42      [001] ..... 100.000090: sys_writev -> 0x5e
            node-42      [001] ..... 100.000100: sys_read(fd: 11, buf: 1, count: 1040a)
            node-42      [001] ..... 100.000102: sys_read -> 0x5e
            node-42      [001] ..... 100.000104: sys_read(fd: 11, buf: 1, count: 1040a)
            node-42      [001] ..... 100.000105: sys_read -> 0xfffffffffffffff5
            node-42      [001] ..... 100.000120: sys_sendmmsg(fd: 10, mmsg: 1, vlen: 1, flags: 40)
            node-42      [001] d..2. 100.000130: sched_switch: prev_comm=node prev_pid=42 prev_prio=120 prev_state=R+ ==> next_comm=node next_pid=41 next_prio=120
            node-41      [001] d..2. 100.000180: sched_switch: prev_comm=node prev_pid=41 prev_prio=120 prev_state=S ==> next_comm=node next_pid=42 next_prio=120
            node-42      [001] ..... 100.000190: sys_sendmmsg -> 0x1
            node-42      [001] ..... 100.000200: sys_epoll_pwait(epfd: 3, events: 1, maxevents: 400, timeout: 1)
            node-42      [001] ..... 100.001300: sys_epoll_pwait -> 0x0
            node-42      [001] ..... 100.001310: sys_epoll_pwait(epfd: 3, events: 1, maxevents: 400, timeout: 1)
`;

test('parseTrace reads syscall entries, exits (negative returns too), wake-ups and switches', (t) => {
  const ev = parseTrace(TRACE);
  t.like(ev[0], { tid: 42, kind: 'enter', call: 'epoll_pwait' });
  t.deepEqual(ev[1], { t: 100e6, tid: 0, kind: 'wake', pid: 42 });
  t.like(ev[2], { tid: 42, kind: 'exit', call: 'epoll_pwait', ret: 1 });
  t.like(ev[3], { tid: 42, kind: 'enter', call: 'recvmmsg' });
  t.like(
    ev.find((e) => e.kind === 'exit' && e.ret < 0),
    { call: 'read', ret: -11 },
  );
  t.like(
    ev.filter((e) => e.kind === 'out' || e.kind === 'in'),
    [
      { kind: 'out', pid: 42 },
      { kind: 'in', pid: 41 },
      { kind: 'out', pid: 41 },
      { kind: 'in', pid: 42 },
    ],
  );
});

test('passes: one TUN pass, its wake-up, user and syscall time without the time off the CPU, and its tail', (t) => {
  const ps = passes(parseTrace(TRACE));
  t.is(ps.length, 1, 'the timer wake-up without I/O is not a pass');
  const p = ps[0];
  if (!p) return;
  t.is(p.role, 'UDP → TUN → UDP (the far end answers)');
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-3;
  t.true(near(p.wake ?? -1, 20), `wake ${p.wake}`);
  // user: 10 + 25 + 10 + 2 + 15 = 62; syscalls: 5 + 30 + 2 + 1 + (70 - 50 off the CPU) = 58
  t.true(near(p.user, 62), `user ${p.user}`);
  t.true(near(p.syscalls, 58), `syscalls ${p.syscalls}`);
  t.true(near(p.off, 50), `off ${p.off}`);
  t.true(near(p.tail, 10), `tail ${p.tail}`);
});
