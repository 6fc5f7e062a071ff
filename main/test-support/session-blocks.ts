// Every block of a session file, for tests that check more than events.
import { SessionReader, type ProcessInfo, type SessionBlock } from '../core/session-file.js';

export async function readBlocks(file: string): Promise<SessionBlock[]> {
  const reader = await SessionReader.open(file);
  const blocks: SessionBlock[] = [];
  try {
    for await (const block of reader.blocks()) blocks.push(block);
  } finally {
    await reader.close();
  }
  return blocks;
}

/** A process block's info for tests: a Python 3.12 started at 1 s, as `overrides` change it. */
export function processInfo(
  session: number,
  pid: number,
  overrides: Partial<ProcessInfo> = {},
): ProcessInfo {
  return {
    session,
    pid,
    ppid: 1,
    parentSession: null,
    uid: 1000,
    exe: '/usr/bin/python3',
    argv: ['python3'],
    cwd: '/',
    pythonVersion: '3.12.3',
    agentVersion: '0.1.0',
    startMonotonicNs: '1000000000',
    startRealtimeNs: '1700000000000000000',
    flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
    ...overrides,
  };
}
