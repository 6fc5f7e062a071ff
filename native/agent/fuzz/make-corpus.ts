// Writes the fuzz targets' seed corpus (docs/fuzzing.md) from the real
// encoders: compiled policies from compilePolicy, frames from encodeFrame,
// answers and holds from main/core/protocol/ask.ts. The files are kept in
// the repository; rerun this after a wire or compiled-policy change:
//   node --import tsx native/agent/fuzz/make-corpus.ts
import fs from 'node:fs';
import path from 'node:path';

import { compilePolicy, parsePolicy } from '../../../main/core/policy/index.js';
import { encodeAnswer, encodeHold } from '../../../main/core/protocol/ask.js';
import { FrameType, encodeFrame } from '../../../main/core/protocol/frame.js';

const CORPUS = path.join(__dirname, 'corpus');
const SHA = '3f1c0a7d9e5b2c4a6f8e0d1b3a5c7e9f2b4d6f8a0c2e4a6b8d0f2a4c6e8b0d2f';

/** Policies that between them use every rule field and argument operator. */
const POLICIES: Record<string, unknown> = {
  intents: {
    version: 1,
    default: 'allow',
    rules: [
      { action: 'deny', intent: 'pythoncode', path: '/srv/app/**/secret*.py' },
      { action: 'ask', intent: ['bytecode', 'zipimport'], realpath: '/opt/?i?/*.pyc' },
      { action: 'allow', intent: '*', sha256: SHA },
      { action: 'deny', intent: 'pythoncode', realpathPrefix: '/tmp/' },
      { action: 'deny', intent: 'unknown', path: '/srv/é*/x' },
      { action: 'deny', intent: 'bytecode', pathPrefix: '/srv/app/' },
      { action: 'allow', intent: 'pythoncode', realpath: '/lib/\\*literal\\?.py' },
      { action: 'deny', intent: ['nativecode', 'ctypes'], realpathPrefix: '/tmp/' },
    ],
  },
  events: {
    version: 1,
    default: 'deny',
    offline: 'deny',
    ask: { timeoutMs: 20000, timeoutAction: 'deny' },
    rules: [
      {
        action: 'deny',
        event: ['subprocess.Popen', 'os.posix_spawn'],
        args: { '0': { glob: '/bin/*sh' } },
      },
      {
        action: 'allow',
        event: 'subprocess.Popen',
        args: { '1.0': 'git', '1.1': { prefix: 'rev-' } },
      },
      { action: 'deny', event: 'socket.connect', args: { '1.0': '169.254.169.254', '1.1': 80 } },
      { action: 'deny', event: 'os.chmod', args: { '1': 420.5, '2': true, '3': false, '0': null } },
      { action: 'ask', event: 'socket.*', package: 'requests', scope: 'process' },
      { action: 'deny', event: 'pickle.*', module: 'app.**' },
      {
        action: 'deny',
        event: ['pickle.find_class', 'marshal.loads'],
        executable: '/usr/bin/python3*',
      },
      { action: 'allow', event: ['import', 'open', 'exec', 'compile', 'os.*', 'sys.**'] },
      { action: 'deny', event: '**', pid: [4242, 1] },
    ],
  },
  mixed: {
    version: 1,
    default: 'ask',
    rules: [
      {
        action: 'allow',
        intent: ['pythoncode', 'bytecode'],
        realpathPrefix: '/usr/lib/python3.11/',
      },
      { action: 'ask', intent: '*', path: '/srv/billing/**/*.py', scope: 'session' },
      { action: 'deny', event: 'open', args: { '0': { glob: '/etc/**' }, '1': 'r' } },
      { action: 'allow', event: 'open' },
    ],
  },
  empty: { version: 1, default: 'allow', rules: [] },
};

function write(target: string, name: string, bytes: Buffer): void {
  const dir = path.join(CORPUS, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), bytes);
}

const compiled: Record<string, Buffer> = {};
for (const [name, doc] of Object.entries(POLICIES)) {
  const policy = parsePolicy(JSON.stringify(doc), `${name}.json`);
  compiled[name] = compilePolicy(policy, { askAnswer: 'deny' });
  write('fuzz-policy', `${name}.bin`, compiled[name]);
  write(
    'fuzz-policy',
    `${name}-interactive.bin`,
    compilePolicy(policy, { askAnswer: 'interactive' }),
  );
}

// What the inspector sends an agent: WELCOME, then control frames.
const welcome = Buffer.alloc(8);
welcome.writeUInt32LE(0, 0); // accepted
welcome.writeUInt32LE(7, 4); // session id
const welcomeFrame = encodeFrame(FrameType.WELCOME, welcome);
const answer = (askId: number, outcome: 'allow' | 'deny'): Buffer =>
  encodeFrame(
    FrameType.ANSWER,
    encodeAnswer({ askId, outcome, by: 'user', rememberInProcess: outcome === 'deny' }),
  );
const streams: Record<string, Buffer[]> = {
  'welcome-detach': [welcomeFrame, encodeFrame(FrameType.DETACH, Buffer.alloc(0))],
  'attach-policy': [welcomeFrame, encodeFrame(FrameType.POLICY, compiled['events']!)],
  'attach-no-policy': [welcomeFrame, encodeFrame(FrameType.POLICY, Buffer.alloc(0))],
  asks: [
    welcomeFrame,
    encodeFrame(FrameType.HOLD, encodeHold(1, 2500)),
    answer(1, 'allow'),
    answer(2, 'deny'),
    encodeFrame(FrameType.HOLD, encodeHold(3, 10_000)),
    encodeFrame(FrameType.DETACH, Buffer.alloc(0)),
  ],
  replace: [
    welcomeFrame,
    encodeFrame(FrameType.POLICY, compiled['intents']!),
    answer(5, 'allow'),
    encodeFrame(FrameType.POLICY, compiled['mixed']!),
  ],
};
for (const [name, frames] of Object.entries(streams)) {
  write('fuzz-control', `${name}.bin`, Buffer.concat(frames));
}

// The encode target's input is fuzz/fake-python.c's object description:
// two bytes of room, then one object (kind byte, body). These seeds cover
// each kind once, nested, and the size limits.
const str = (text: string): Buffer => {
  const b = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([6, b.length]), b]);
};
const int = (n: bigint): Buffer => {
  const b = Buffer.alloc(9);
  b[0] = 3;
  b.writeBigInt64LE(n, 1);
  return b;
};
const tuple = (items: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from([10, items.length]), ...items]);
const list = (items: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from([11, items.length]), ...items]);
const room = (n: number): Buffer => Buffer.from([n & 0xff, (n >> 8) & 0xff]);
const seeds: Record<string, Buffer> = {
  'open-args': Buffer.concat([room(4000), tuple([str('/etc/passwd'), str('r'), int(524288n)])]),
  'popen-args': Buffer.concat([
    room(2000),
    tuple([
      str('/bin/sh'),
      list([str('git'), str('rev-parse'), str('é€😀')]),
      Buffer.from([0, 1, 2]),
    ]),
  ]),
  'long-str': Buffer.concat([
    room(16000),
    Buffer.from([7, 2, 0x40, 0x10]),
    Buffer.from('é😀', 'utf8'),
  ]),
  'small-room': Buffer.concat([room(0), tuple([str('é'.repeat(100)), str('x'.repeat(200))])]),
  'bytes-code-other': Buffer.concat([
    room(3000),
    tuple([
      Buffer.concat([Buffer.from([8, 0x2c, 0x01]), Buffer.alloc(300, 0xab)]),
      Buffer.concat([Buffer.from([12, 10, 0]), str('/srv/app/x.py'), str('<module>')]),
      Buffer.concat([Buffer.from([13, 6]), Buffer.from('Socket')]),
      Buffer.from([4, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f]), // int beyond 64 bits, +inf
      Buffer.from([5, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f]), // float NaN
      Buffer.from([14]),
    ]),
  ]),
  surrogates: Buffer.concat([
    room(500),
    tuple([Buffer.from([6, 3, 0x66, 0xff, 0x6f]), Buffer.from([0x76, 2, 0xed, 0xa0])]),
  ]),
  'deep-many': Buffer.concat([
    room(16000),
    tuple([tuple([tuple([tuple([int(1n)])])]), Buffer.from([11, 0x80 + 10])]),
  ]),
};
for (const [name, bytes] of Object.entries(seeds)) write('fuzz-encode', `${name}.bin`, bytes);

// The stack target's input: two bytes of room, a frame count, then per
// frame a flags byte (bit 0 a code object, bit 1 a module name), the code
// object's file and function names (u16 length, then a piece of at most
// 16 bytes repeated to that length), the module name as an object, and a
// u16 line.
const text16 = (length: number, piece: string): Buffer => {
  const b = Buffer.from(piece, 'utf8').subarray(0, 16);
  return Buffer.concat([Buffer.from([length & 0xff, length >> 8]), b]);
};
const frame = (file: Buffer, fn: Buffer, module: Buffer | null, line: number): Buffer =>
  Buffer.concat([
    Buffer.from([module ? 3 : 1]),
    file,
    fn,
    module ?? Buffer.alloc(0),
    Buffer.from([line & 0xff, line >> 8]),
  ]);
const frames = (n: number, make: (i: number) => Buffer): Buffer[] =>
  Array.from({ length: n }, (_, i) => make(i));
const stackSeeds: Record<string, Buffer> = {
  'short-stack': Buffer.concat([
    room(8192),
    Buffer.from([3]),
    ...frames(3, (i) =>
      frame(text16(12, `/srv/app/m${i}.py`), text16(4, 'main'), str(`app.m${i}`), 10 + i),
    ),
  ]),
  'deep-stack': Buffer.concat([
    room(8192),
    Buffer.from([30]),
    ...frames(30, (i) => frame(text16(20, '/usr/lib/python3.11/'), text16(3, 'run'), null, i)),
  ]),
  'long-file-names': Buffer.concat([
    room(8192),
    Buffer.from([16]),
    ...frames(16, (i) => frame(text16(4000, 'é/'), text16(300, 'f'), str('gen'), i)),
  ]),
};
for (const [name, bytes] of Object.entries(stackSeeds)) write('fuzz-stack', `${name}.bin`, bytes);
