/**
 * A tunnel's side of the native lone-packet path (dataplane/native/express.c;
 * doc/ARCHITECTURE.md, "The native lone-packet path"): arms it with the
 * tunnel's current session while that is safe, disarms it otherwise, and
 * reports the write and send failures it can only count.
 *
 * Armed means: the socket's session-id table maps the current session's id to
 * this tunnel and the TUN port knows it, so a wake-up that brings one packet
 * is handled in C on the tunnel's own shared state (Session.tx, the replay
 * window's arrays, TunnelCounters.slots).
 */
import { REPLAY_WINDOW } from '../crypto/index.js';
import type { TunnelSocket } from './endpoint.js';
import { native, type NativeExpress, type NativePort } from './native.js';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_MS, type Session, type TunnelCounters } from './session.js';
import type { DataplaneContext } from './shared.js';

export class FastPath {
  private readonly x: NativeExpress;
  /** What it is armed with (session undefined: disarmed). */
  private session: Session | undefined;
  private peer: Uint8Array | undefined;
  private rx = false;
  private tx = false;
  /** Write and send failures already reported. */
  private seenDeviceErrors = 0;
  private seenSendErrors = 0;

  constructor(
    private readonly dp: DataplaneContext,
    private readonly socket: TunnelSocket,
    counters: TunnelCounters,
    private readonly name: string,
  ) {
    this.x = new (native().Express)(counters.slots);
  }

  get armed(): boolean {
    return this.x.armed;
  }

  /**
   * Arms the path with `session` (the tunnel's current one, proven), or disarms it: armed only
   * while there is a session, a peer and a device, for the directions traffic control has no
   * stage in. Cheap when nothing changed; the tunnel calls it wherever one of these changes
   * (sessions, peer, device, stages, close).
   */
  sync(
    session: Session | undefined,
    peer: Uint8Array | undefined,
    tun: NativePort | undefined,
    dirs: { rx: boolean; tx: boolean },
  ): void {
    const { rx, tx } = dirs;
    if (session === undefined || peer === undefined || tun === undefined || !(rx || tx)) {
      if (this.session !== undefined) this.x.disarm();
      this.session = undefined;
      return;
    }
    if (session === this.session && peer === this.peer && rx === this.rx && tx === this.tx) return;
    const dp = this.dp;
    try {
      this.x.arm(this.socket.nativePort, tun, {
        id: session.id,
        sendKey: session.sendKey,
        recvKey: session.recvKey,
        sendCounter: session.tx,
        replayMark: session.replay.mark,
        replayRing: session.replay.ring,
        replayWindow: REPLAY_WINDOW,
        expiresMs: session.createdMs + REJECT_AFTER_MS,
        sendLimit: REJECT_AFTER_MESSAGES,
        peer,
        clockOffsetMs: dp.now() - Number(process.hrtime.bigint()) / 1e6,
        rx,
        tx,
        drain: dp.drainAfterWrite,
      });
    } catch (e) {
      // (an id another tunnel of the socket holds cannot happen: the socket's index refuses it)
      this.session = undefined;
      dp.ratelog.emit('warn', `${this.name}:express`, dp.now(), 'native lone-packet path not armed', {
        tun: this.name,
        reason: (e as Error).message,
      });
      return;
    }
    this.session = session;
    this.peer = peer;
    this.rx = rx;
    this.tx = tx;
  }

  /**
   * The native path counts its failed TUN writes and UDP sends but cannot log: say so here (from
   * the tunnel's tick), rate-limited like the JS path's own lines.
   */
  reportErrors(c: TunnelCounters, nowMs: number): void {
    const device = c.dropDeviceError;
    const send = c.dropSendError;
    if (device === this.seenDeviceErrors && send === this.seenSendErrors) return;
    if (this.session !== undefined)
      this.dp.ratelog.emit('warn', `${this.name}:native`, nowMs, 'TUN write or UDP send failed; packets dropped', {
        tun: this.name,
        deviceErrors: device,
        sendErrors: send,
        errno: native().errnoName(native().lastErrno()),
      });
    this.seenDeviceErrors = device;
    this.seenSendErrors = send;
  }
}
