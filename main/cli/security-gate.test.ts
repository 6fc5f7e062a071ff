// The agent socket's gate as a user of `hookscope run` meets it: while a
// real target is recorded, strangers knock on its socket — a process the
// run did not launch, another uid, a wrong token, a HELLO that lies about
// its pid, an oversize frame, a malformed one, a frame before HELLO. Each
// is refused and logged (stderr and a notice in the session file), none
// is answered, and the target and its own recording carry on.
// main/core/agent-server.test.ts and agent-socket-refusals.test.ts test
// the same checks on the server alone.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { FrameType, encodeFrame } from '../core/protocol/frame.js';
import { readBlocks } from '../test-support/session-blocks.js';
import { runCli, showJson, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { until } from '../test-support/waiting.js';

const interpreters = auditCapableInterpreters();
const py = interpreters[interpreters.length - 1]!;
// Another user cannot run pyenv's builds (they live under /root).
const systemPython = interpreters.find((p) => p.path.startsWith('/usr/'));

/** HELLO payload (docs/protocol.md) for `pid`, with `token`. */
function hello(token: Buffer, pid: number): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt32LE(1, 0);
  token.copy(fixed, 4);
  fixed.writeUInt32LE(pid, 36);
  fixed.writeUInt32LE(process.ppid, 40);
  fixed.writeUInt32LE(process.getuid!(), 44);
  const lstr = (s: string): Buffer => {
    const b = Buffer.from(s);
    const h = Buffer.alloc(4);
    h.writeUInt32LE(b.length);
    return Buffer.concat([h, b]);
  };
  const argc = Buffer.alloc(4);
  argc.writeUInt32LE(1);
  return Buffer.concat([fixed, lstr('/x'), lstr('/'), lstr('3.x'), lstr('t'), argc, lstr('x')]);
}

describe('hookscope run: the agent socket refuses strangers', () => {
  it('refuses and logs each, answers none, and the recording carries on', async () => {
    const dir = tempDir('hookscope-gate-');
    const out = path.join(dir, 's.hks');
    const socketFile = path.join(dir, 'socket');
    const go = path.join(dir, 'go');
    const report = path.join(dir, 'report.json');
    // The target, from inside the run (so its pid passes the pid check),
    // tries every bad input; each attempt reports the bytes it got back.
    const code = [
      'import json, os, socket, struct, subprocess, sys, time',
      'path = os.environ["HOOKSCOPE_SOCKET"]',
      'token = bytes.fromhex(os.environ["HOOKSCOPE_TOKEN"])',
      `open(${JSON.stringify(socketFile)}, "w").write(path + "\\n" + token.hex())`,
      `while not os.path.exists(${JSON.stringify(go)}): time.sleep(0.01)`,
      'def frame(t, payload):',
      '    return b"HSK1" + bytes([1, t, 0, 0]) + struct.pack("<I", len(payload)) + payload',
      'def lstr(b): return struct.pack("<I", len(b)) + b',
      'def hello(tok, pid):',
      '    return (struct.pack("<I", 1) + tok + struct.pack("<IIII", pid, os.getppid(), os.getuid(), 0)',
      '            + struct.pack("<QQ", 0, 0) + lstr(b"/x") * 4 + struct.pack("<I", 1) + lstr(b"x"))',
      'def attempt(data):',
      '    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(15)',
      '    s.sendall(data); got = b""',
      '    while True:',
      '        d = s.recv(4096)',
      '        if not d: break',
      '        got += d',
      '    s.close(); return len(got)',
      'r = {}',
      'r["wrong token"] = attempt(frame(1, hello(os.urandom(32), os.getpid())))',
      'r["pid claim"] = attempt(frame(1, hello(token, 1)))',
      'r["oversize"] = attempt(b"HSK1" + bytes([1, 3, 0, 0]) + struct.pack("<I", 64 << 20))',
      'r["malformed"] = attempt(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")',
      'r["before hello"] = attempt(frame(3, b""))',
      'if len(sys.argv) > 1:',
      '    # Another uid, from inside the run: the 0700 directory stops it.',
      '    other = ("import os, socket\\ns = socket.socket(socket.AF_UNIX)\\n"',
      '             "try:\\n    s.connect(os.environ[\\"HOOKSCOPE_SOCKET\\"]); print(\\"connected\\")\\n"',
      '             "except OSError as e:\\n    print(e.__class__.__name__)\\n")',
      // Its own process, without our agent (the checkout may be unreadable to it).
      '    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}',
      '    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",',
      '                        sys.argv[1], "-c", other], capture_output=True, text=True, env=env)',
      '    r["other uid"] = p.stdout.strip() + p.stderr.strip()',
      'sys.audit("hookscope.test.after", 1)',
      `open(${JSON.stringify(report)}, "w").write(json.dumps(r))`,
      'print("target done")',
    ].join('\n');
    const otherUid = process.getuid!() === 0 && systemPython !== undefined;
    const running = runCli(
      [
        'run',
        '--no-summary',
        '--out',
        out,
        '--',
        py.path,
        '-c',
        code,
        ...(otherUid ? [systemPython!.path] : []),
      ],
      { timeoutMs: 60_000 },
    );
    await until(
      () => fs.existsSync(socketFile) && fs.readFileSync(socketFile, 'utf8').includes('\n'),
      30_000,
      'the socket path',
    );
    const [socketPath, tokenHex] = fs.readFileSync(socketFile, 'utf8').split('\n');
    // From this test's process: not launched by the run, right token.
    const answered = await new Promise<number>((resolve) => {
      let got = 0;
      const c = net.createConnection(socketPath!, () =>
        c.write(encodeFrame(FrameType.HELLO, hello(Buffer.from(tokenHex!, 'hex'), process.pid))),
      );
      c.on('data', (b: Buffer) => (got += b.length));
      c.on('error', () => resolve(got));
      c.on('close', () => resolve(got));
    });
    expect(answered).toBe(0);
    fs.writeFileSync(go, '');
    const r = await running;

    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('target done\n');
    const attempts = JSON.parse(fs.readFileSync(report, 'utf8')) as Record<string, unknown>;
    expect(attempts).toEqual({
      'wrong token': 0,
      'pid claim': 0,
      oversize: 0,
      malformed: 0,
      'before hello': 0,
      ...(otherUid ? { 'other uid': 'PermissionError' } : {}),
    });

    const refusals = [
      `pid ${process.pid} was not launched or attached by this run`,
      /wrong token from pid (\d+)$/,
      /HELLO claims pid 1 but the kernel says (\d+)$/,
      /protocol error from pid \d+: EVENTS frame payload of 67108864 bytes exceeds the 1048576-byte limit/,
      /protocol error from pid \d+: bad frame magic 0x47455420/,
      /protocol error from pid \d+: expected HELLO, got frame type 3$/,
    ];
    const stderrLines = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('hookscope: warning: refused an agent connection: '));
    expect(stderrLines).toHaveLength(refusals.length);
    const blocks = await readBlocks(out);
    const notices = blocks.flatMap((b) => (b.type === 'notice' ? [b.notice] : []));
    expect(notices).toHaveLength(refusals.length);
    refusals.forEach((expected, i) => {
      const message = notices[i]!.message;
      expect(notices[i]!.level).toBe('warning');
      expect(`hookscope: warning: ${message}`).toBe(stderrLines[i]);
      if (typeof expected === 'string') expect(message).toMatch(expected);
      else expect(message).toMatch(expected);
    });
    // The target's own session is whole: one process, its events to the
    // last, ended by its own goodbye.
    const processes = blocks.flatMap((b) => (b.type === 'process' ? [b.process] : []));
    expect(processes).toHaveLength(1);
    const ends = blocks.flatMap((b) => (b.type === 'process-end' ? [b.processEnd.reason] : []));
    expect(ends).toEqual(['exited']);
    expect((await showJson(out)).some((e) => e.event === 'hookscope.test.after')).toBe(true);
    // And `hookscope show` tells the user.
    const shown = await runCli(['show', out]);
    expect(shown.stdout.match(/^# warning: refused an agent connection: /gm)).toHaveLength(
      refusals.length,
    );
  });
});
