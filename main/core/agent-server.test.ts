// The agent socket refuses everyone but the processes this run launched,
// holding this run's token; the agent refuses a server of another uid.
// Real sockets, real agent, real CPython.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { AgentServer, type AgentSink } from './agent-server.js';
import type { Bye } from './protocol/hello.js';
import { FrameType, encodeFrame } from './protocol/frame.js';
import { agentLibraryPath, makePrivateSocketDir } from './runtime-paths.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { CollectingSink } from '../test-support/collecting-sink.js';
import { encodeAuditRecord, encodeByePayload, v } from '../test-support/wire-encoder.js';
import { until } from '../test-support/waiting.js';

const py = auditCapableInterpreters()[0]!;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startServer(acceptsPid: (pid: number) => boolean, helloTimeoutMs?: number) {
  const socketDir = makePrivateSocketDir();
  const token = crypto.randomBytes(32);
  const sink = new CollectingSink();
  const server = new AgentServer({ socketDir, token, acceptsPid, sink, helloTimeoutMs });
  await server.listen();
  cleanups.push(async () => {
    await server.close();
    fs.rmSync(socketDir, { recursive: true, force: true });
  });
  return { socketDir, token, sink, server };
}

/**
 * Runs Python with the agent preloaded, pointed at `socket` with `token`.
 * Asynchronous on purpose: the server answering HELLO runs in this process.
 */
function runTarget(
  socket: string,
  tokenHex: string,
  code: string,
  serverUid = process.getuid!(),
): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(py.path, ['-c', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        LD_PRELOAD: agentLibraryPath(),
        HOOKSCOPE_SOCKET: socket,
        HOOKSCOPE_TOKEN: tokenHex,
        HOOKSCOPE_SERVER_UID: String(serverUid),
      },
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8') }));
  });
}

/** Sends raw bytes from this process and waits for the server to hang up. */
function sendRaw(socketPath: string, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const c = net.createConnection(socketPath, () => c.write(bytes));
    c.on('error', () => resolve());
    c.on('close', () => resolve());
    c.resume();
  });
}

function hello(token: Buffer, pid: number): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt32LE(1, 0);
  token.copy(fixed, 4);
  fixed.writeUInt32LE(pid, 36);
  fixed.writeUInt32LE(process.ppid, 40);
  fixed.writeUInt32LE(process.getuid!(), 44);
  const lstr = (s: string) => {
    const b = Buffer.from(s);
    const h = Buffer.alloc(4);
    h.writeUInt32LE(b.length);
    return Buffer.concat([h, b]);
  };
  const argc = Buffer.alloc(4);
  argc.writeUInt32LE(1);
  return Buffer.concat([
    fixed,
    lstr('/usr/bin/node'),
    lstr('/'),
    lstr('3.x'),
    lstr('test'),
    argc,
    lstr('node'),
  ]);
}

describe('agent socket', () => {
  it('lives in a 0700 directory as a 0600 socket', async () => {
    const { socketDir, server } = await startServer(() => true);
    expect(fs.statSync(socketDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(server.socketPath).mode & 0o777).toBe(0o600);
  });

  it('accepts the real agent with the right token', async () => {
    const { server, token, sink } = await startServer(() => true);
    const r = await runTarget(
      server.socketPath,
      token.toString('hex'),
      'import json; print("ran")',
    );
    expect(r.stdout).toBe('ran\n');
    await until(() => sink.eventFrames > 0);
    expect(sink.started).toHaveLength(1);
    expect(sink.notices).toEqual([]);
  });

  it('refuses the real agent with a wrong token, logs it, and the target carries on', async () => {
    const { server, sink } = await startServer(() => true);
    const r = await runTarget(
      server.socketPath,
      crypto.randomBytes(32).toString('hex'),
      'import json; print("ran")',
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ran\n');
    await until(() => sink.notices.length > 0);
    expect(sink.notices[0]).toMatch(/wrong token/);
    expect(sink.started).toEqual([]);
    expect(sink.eventFrames).toBe(0);
  });

  it('refuses a process it did not launch, even with the right token', async () => {
    const { server, token, sink } = await startServer(() => false);
    const r = await runTarget(server.socketPath, token.toString('hex'), 'print("ran")');
    expect(r.stdout).toBe('ran\n');
    await until(() => sink.notices.length > 0);
    expect(sink.notices[0]).toMatch(/was not launched or attached/);
    expect(sink.started).toEqual([]);
    expect(sink.refusals).toHaveLength(1);
    expect(sink.refusals[0]?.pid).toEqual(expect.any(Number));
  });

  it('refuses a HELLO whose pid is not the peer', async () => {
    const { server, token, sink } = await startServer(() => true);
    await sendRaw(server.socketPath, encodeFrame(FrameType.HELLO, hello(token, process.pid + 1)));
    await until(() => sink.notices.length > 0);
    expect(sink.notices[0]).toMatch(/claims pid/);
    // The refusal goes to the sink with the peer's pid (an attach fails on it at once).
    expect(sink.refusals).toEqual([{ pid: process.pid, why: expect.stringMatching(/claims pid/) }]);
  });

  it('refuses a connection that sends no HELLO in time, naming its pid', async () => {
    const { server, sink } = await startServer(() => true, 300);
    const c = net.createConnection(server.socketPath);
    const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
    c.on('error', () => {});
    await closed;
    expect(sink.notices).toEqual([
      `refused an agent connection: pid ${process.pid} sent no HELLO in time`,
    ]);
    expect(sink.refusals).toEqual([
      { pid: process.pid, why: `pid ${process.pid} sent no HELLO in time` },
    ]);
  });

  it('refuses an oversize frame and a malformed one without crashing', async () => {
    const { server, sink } = await startServer(() => true);
    const oversize = Buffer.alloc(12);
    oversize.write('HSK1', 0, 'latin1');
    oversize.writeUInt8(1, 4);
    oversize.writeUInt8(FrameType.HELLO, 5);
    oversize.writeUInt32LE(64 << 20, 8);
    await sendRaw(server.socketPath, oversize);
    await sendRaw(server.socketPath, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await until(() => sink.notices.length >= 2);
    expect(sink.notices.join('\n')).toMatch(/protocol error/);
    expect(sink.started).toEqual([]);
    // Still serving afterwards.
    expect(server.openConnections).toBe(0);
  });

  it('takes a flood in slices: other work runs meanwhile, and every frame arrives in order before the end', async () => {
    // What main/web/load-faults.test.ts does with twenty real agents, with
    // one connection from here: ~13 MB of EVENTS sent at once, then BYE
    // and the end of the stream.
    const socketDir = makePrivateSocketDir();
    const token = crypto.randomBytes(32);
    const firstSeqs: number[] = [];
    let records = 0;
    let eventsWhenEnded = -1;
    let endedWith: Bye | null = null;
    const sink: AgentSink = {
      processStarted: () => {},
      events: (_session, payload, count) => {
        firstSeqs.push(Number(payload.readBigUInt64LE(12)));
        records += count;
      },
      drops: () => {},
      processEnded: (_session, bye) => {
        eventsWhenEnded = firstSeqs.length;
        endedWith = bye;
      },
      notice: (_level, message) => {
        throw new Error(`unexpected notice: ${message}`);
      },
    };
    const server = new AgentServer({ socketDir, token, acceptsPid: () => true, sink });
    await server.listen();
    cleanups.push(async () => {
      await server.close();
      fs.rmSync(socketDir, { recursive: true, force: true });
    });

    const FRAMES = 96;
    const PER_FRAME = 2048;
    const frames: Buffer[] = [encodeFrame(FrameType.HELLO, hello(token, process.pid))];
    for (let f = 0; f < FRAMES; f++) {
      const batch: Buffer[] = [];
      for (let i = 0; i < PER_FRAME; i++) {
        const seq = f * PER_FRAME + i;
        batch.push(
          encodeAuditRecord({ seq, event: 'hookscope.test.flood', args: v.tuple([v.int(seq)]) }),
        );
      }
      frames.push(encodeFrame(FrameType.EVENTS, Buffer.concat(batch)));
    }
    const total = FRAMES * PER_FRAME;
    frames.push(encodeFrame(FrameType.BYE, encodeByePayload(BigInt(total), 0n, 0)));
    const bytes = Buffer.concat(frames);

    let ticks = 0;
    let ticksDuringFlood = 0;
    const ticker = setInterval(() => {
      ticks++;
      if (firstSeqs.length > 0 && firstSeqs.length < FRAMES) ticksDuringFlood++;
    }, 1);
    try {
      await new Promise<void>((resolve, reject) => {
        const c = net.createConnection(server.socketPath, () => c.end(bytes));
        c.on('error', reject);
        c.on('close', () => resolve());
        c.resume();
      });
      await until(() => endedWith !== null);
    } finally {
      clearInterval(ticker);
    }
    expect(bytes.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(ticks).toBeGreaterThan(0);
    // The event loop turned between slices while the frames were handled.
    expect(ticksDuringFlood).toBeGreaterThan(0);
    expect(firstSeqs).toEqual(Array.from({ length: FRAMES }, (_, f) => f * PER_FRAME));
    expect(records).toBe(total);
    // BYE, the last frame, was read before the session ended.
    expect(eventsWhenEnded).toBe(FRAMES);
    expect(endedWith).toMatchObject({ recordsTotal: BigInt(total), reason: 'exit' });
  });

  it('agent refuses a squatted socket owned by another uid and sends it nothing', async () => {
    // Needs root (to run a server as another user) and an interpreter that
    // user can execute (pyenv's live under /root).
    const squatPython = auditCapableInterpreters().find((p) => p.path.startsWith('/usr/'));
    if (process.getuid!() !== 0 || !squatPython) return;
    const dir = fs.mkdtempSync('/tmp/hookscope-squat-');
    fs.chmodSync(dir, 0o777);
    const sockPath = path.join(dir, 'agent.sock');
    const received = path.join(dir, 'received');
    const squatter = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        squatPython.path,
        '-c',
        [
          'import socket, sys',
          's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)',
          'import os; os.chmod(sys.argv[1], 0o777)',
          'print("ready", flush=True)',
          'c, _ = s.accept(); c.settimeout(3)',
          'data = b""',
          'try:',
          '    while True:',
          '        d = c.recv(65536)',
          '        if not d: break',
          '        data += d',
          'except socket.timeout: pass',
          'open(sys.argv[2], "w").write(str(len(data)))',
        ].join('\n'),
        sockPath,
        received,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => {
      squatter.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await new Promise<void>((resolve, reject) => {
      squatter.stdout!.once('data', () => resolve());
      squatter.once('exit', (code) => reject(new Error(`squatting server exited early (${code})`)));
    });
    const r = await runTarget(
      sockPath,
      crypto.randomBytes(32).toString('hex'),
      'import json; print("ran")',
      0,
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ran\n');
    await until(() => fs.existsSync(received), 10_000);
    expect(fs.readFileSync(received, 'utf8')).toBe('0');
  });
});
