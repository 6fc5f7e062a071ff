// The security gate of the agent socket, cases agent-server.test.ts does
// not reach: a peer running as another uid (the server's SO_PEERCRED
// check), and the agent's side of a server that breaks the protocol (an
// oversize or malformed frame from "main"). Refused, logged where there is
// a log (the server's notices; the agent inside the target stays silent),
// and the target runs on. Real agent, real sockets, real CPython.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { AgentServer } from './agent-server.js';
import { FRAME_HEADER_SIZE, FrameType, encodeFrame } from './protocol/frame.js';
import { agentLibraryPath, makePrivateSocketDir } from './runtime-paths.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { tempDir } from '../test-support/cli.js';
import { CollectingSink } from '../test-support/collecting-sink.js';
import { until } from '../test-support/waiting.js';

const interpreters = auditCapableInterpreters();
const py = interpreters[interpreters.length - 1]!;
// Another user cannot run pyenv's builds (they live under /root).
const systemPython = interpreters.find((p) => p.path.startsWith('/usr/'));
const NOBODY = 65534;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Python with the agent preloaded; `prefix` runs it through another program (setpriv). */
function runTarget(
  prefix: string[],
  python: string,
  socket: string,
  tokenHex: string,
  code: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const argv = [...prefix, python, '-c', code];
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        LD_PRELOAD: agentForEveryone(),
        HOOKSCOPE_SOCKET: socket,
        HOOKSCOPE_TOKEN: tokenHex,
        HOOKSCOPE_SERVER_UID: String(process.getuid!()),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * A copy of the agent another user can load: the checkout may sit in a
 * folder only root can enter (a clone in a mktemp -d folder is 0700).
 */
function agentForEveryone(): string {
  const dir = tempDir('hookscope-agent-copy-');
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, path.basename(agentLibraryPath()));
  fs.copyFileSync(agentLibraryPath(), copy);
  fs.chmodSync(copy, 0o644);
  return copy;
}

describe('agent socket: a peer of another uid', () => {
  it.runIf(process.getuid!() === 0 && systemPython !== undefined)(
    'is refused on its kernel uid even with the right token; logged; the target runs on',
    async () => {
      // Normally the 0700 directory keeps another user out before the
      // server sees anything (main/cli/security-gate.test.ts shows that).
      // Here the directory and socket are opened up on purpose, so the
      // only thing between another user and the server is its own
      // SO_PEERCRED check. (Launch mode takes socket paths only.)
      const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-uid-'));
      const token = crypto.randomBytes(32);
      const sink = new CollectingSink();
      const server = new AgentServer({ socketDir, token, acceptsPid: () => true, sink });
      await server.listen();
      cleanups.push(async () => {
        await server.close();
        fs.rmSync(socketDir, { recursive: true, force: true });
      });
      fs.chmodSync(socketDir, 0o711);
      fs.chmodSync(server.socketPath, 0o666);
      const r = await runTarget(
        ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
        systemPython!.path,
        server.agentAddress,
        token.toString('hex'),
        'import os, sys, json\nsys.audit("hookscope.test.after")\nprint("ran as", os.getuid())',
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`ran as ${NOBODY}\n`);
      expect(r.stderr).toBe('');
      await until(() => sink.notices.length > 0);
      expect(sink.notices).toEqual([
        expect.stringMatching(
          new RegExp(
            `^refused an agent connection: peer uid ${NOBODY} is not the expected 0, pid \\d+$`,
          ),
        ),
      ]);
      expect(sink.started).toEqual([]);
      expect(sink.eventFrames).toBe(0);
    },
  );
});

/**
 * A hostile or broken "inspector": accepts the agent, reads its HELLO,
 * answers WELCOME and then `after`. Reports what it received and when the
 * agent hung up.
 */
async function brokenServer(after: Buffer): Promise<{
  socketPath: string;
  helloSeen: Promise<void>;
  agentClosed: Promise<number>;
  bytesAfterWelcome: () => number;
}> {
  const dir = makePrivateSocketDir();
  const socketPath = path.join(dir, 'agent.sock');
  let sawHello!: () => void;
  const helloSeen = new Promise<void>((r) => (sawHello = r));
  let closed!: (ms: number) => void;
  const agentClosed = new Promise<number>((r) => (closed = r));
  let received = 0;
  let sentAt = 0;
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    let welcomed = false;
    socket.on('data', (chunk: Buffer) => {
      if (welcomed) {
        received += chunk.length;
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < FRAME_HEADER_SIZE) return;
      const len = buf.readUInt32LE(8);
      if (buf.length < FRAME_HEADER_SIZE + len) return;
      received = buf.length - FRAME_HEADER_SIZE - len;
      welcomed = true;
      sawHello();
      const welcome = Buffer.alloc(8);
      welcome.writeUInt32LE(1, 4);
      socket.write(encodeFrame(FrameType.WELCOME, welcome));
      // Let a batch or two of events arrive first: the agent is capturing.
      setTimeout(() => {
        sentAt = Date.now();
        socket.write(after);
      }, 200);
    });
    socket.on('error', () => {});
    socket.on('close', () => closed(Date.now() - sentAt));
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  cleanups.push(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { socketPath, helloSeen, agentClosed, bytesAfterWelcome: () => received };
}

function header(type: number, length: number, magic = 'HSK1'): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.write(magic, 0, 'latin1');
  h[4] = 1;
  h[5] = type;
  h.writeUInt32LE(length, 8);
  return h;
}

describe('agent facing an inspector that breaks the protocol', () => {
  it.each([
    // Over the 64 KiB main → agent limit: the stream cannot be trusted.
    ['an oversize POLICY frame', header(FrameType.POLICY, 64 * 1024 + 1)],
    ['an oversize ANSWER frame', header(FrameType.ANSWER, 1 << 20)],
    ['a malformed frame (bad magic)', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['a frame of an unknown type', header(200, 0)],
    ['a frame of a type only agents send', header(FrameType.EVENTS, 0)],
  ])('hangs up on %s, goes pass-through, and the target carries on', async (_name, bad) => {
    const server = await brokenServer(bad);
    // Events for ~1.5 s, well after the bad frame: the process must not
    // stall, crash or print anything, and must end normally.
    const code = [
      'import sys, time',
      'n = 0',
      'end = time.time() + 1.5',
      'while time.time() < end:',
      '    sys.audit("hookscope.test.tick", n); n += 1',
      '    time.sleep(0.0005)',
      'print("ticks", n > 100)',
    ].join('\n');
    const target = runTarget([], py.path, server.socketPath, '00'.repeat(32), code);
    await server.helloSeen;
    const closedAfterMs = await server.agentClosed;
    const r = await target;
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('ticks True\n');
    expect(r.stderr).toBe('');
    // Noticed on the writer's next pass (it polls every few ms), long
    // before the target ended.
    expect(closedAfterMs).toBeLessThan(1000);
    expect(server.bytesAfterWelcome()).toBeGreaterThan(0);
  });
});

describe('agent socket after refusals', () => {
  it('still accepts the real agent after an oversize and a malformed frame', async () => {
    // agent-server.test.ts shows both refused; here the server must also
    // still be serving properly afterwards.
    const socketDir = makePrivateSocketDir();
    const token = crypto.randomBytes(32);
    const sink = new CollectingSink();
    const server = new AgentServer({ socketDir, token, acceptsPid: () => true, sink });
    await server.listen();
    cleanups.push(async () => {
      await server.close();
      fs.rmSync(socketDir, { recursive: true, force: true });
    });
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const c = net.createConnection(server.socketPath, () => c.write(bytes));
        c.on('error', () => resolve());
        c.on('close', () => resolve());
        c.resume();
      });
    await send(header(FrameType.HELLO, 64 << 20));
    await send(Buffer.from('\x00'.repeat(4096)));
    await until(() => sink.notices.length >= 2);
    expect(sink.notices).toEqual([
      expect.stringMatching(/^refused an agent connection: protocol error from pid \d+: .*/),
      expect.stringMatching(/^refused an agent connection: protocol error from pid \d+: .*/),
    ]);
    const r = await runTarget(
      [],
      py.path,
      server.socketPath,
      token.toString('hex'),
      'import json; print("ran")',
    );
    expect(r.status, r.stderr).toBe(0);
    await until(() => sink.eventFrames > 0);
    expect(sink.started).toHaveLength(1);
    expect(sink.notices).toHaveLength(2);
  });
});
