// POLICY_ACK (docs/protocol.md, "Replacing the policy"): the agent's reply
// to a POLICY frame sent after the handshake. native/agent/src/wire.h
// (enum hs_policy_ack) is the C side of the same contract.

import { ProtocolError } from './frame.js';

/** What the agent did with a replacement policy, by status code. */
export const POLICY_ACK_STATUSES = ['applied', 'malformed', 'not-enforcing', 'too-many'] as const;
export type PolicyAckStatus = (typeof POLICY_ACK_STATUSES)[number];

export const POLICY_ACK_SIZE = 4;

export function parsePolicyAck(payload: Buffer): PolicyAckStatus {
  if (payload.length !== POLICY_ACK_SIZE) {
    throw new ProtocolError(
      `POLICY_ACK payload is ${payload.length} bytes, expected ${POLICY_ACK_SIZE}`,
    );
  }
  const code = payload.readUInt32LE(0);
  const status = POLICY_ACK_STATUSES[code];
  if (status === undefined) throw new ProtocolError(`POLICY_ACK with unknown status ${code}`);
  return status;
}

/** For tests and tools that play the agent's part. */
export function encodePolicyAck(status: PolicyAckStatus): Buffer {
  const payload = Buffer.alloc(POLICY_ACK_SIZE);
  payload.writeUInt32LE(POLICY_ACK_STATUSES.indexOf(status), 0);
  return payload;
}
