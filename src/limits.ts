/**
 * The implementation limits and protocol constants as the control plane uses
 * them: a view of base/constants.ts (where each is defined once, with its
 * reason), plus the scheduler limits built from them. The README's "Limits"
 * section is generated from base/constants.ts (a test checks it is current).
 */
import { LIMITS, PROTOCOL } from '../base/constants.js';
import type { SchedulerLimits } from '../dataplane/tc/scheduler.js';

export { LIMITS, PROTOCOL };

/** The traffic-control schedulers' limits (the daemon's; the simulator starts from them too). */
export function schedulerLimits(maxPacket: number): SchedulerLimits {
  return {
    queuePackets: LIMITS.queuePackets,
    queueBytes: LIMITS.queueBytes,
    totalQueueBytes: LIMITS.totalQueueBytes,
    flows: LIMITS.flowsPerNeighbor,
    targetMs: LIMITS.codelTargetMs,
    intervalMs: LIMITS.codelIntervalMs,
    bucketDepthMs: LIMITS.bucketDepthMs,
    quantumBytes: LIMITS.quantumBytes,
    maxPacket,
  };
}
