import { describe, expect, it } from 'vitest';

import {
  EVENT_CATEGORIES,
  categoryLabel,
  categoryOf,
  type EventCategory,
} from './event-taxonomy.js';

const samples: Record<EventCategory, string[]> = {
  imports: ['import', 'io.open_code', 'zipimport.zipimporter'],
  code: [
    'exec',
    'compile',
    'code.__new__',
    'function.__new__',
    'cpython.run_file',
    'cpython.run_command',
    'cpython.run_module',
  ],
  files: [
    'open',
    'os.listdir',
    'os.remove',
    'os.rename',
    'os.mkdir',
    'os.scandir',
    'os.chmod',
    'os.truncate',
    'shutil.copyfile',
    'shutil.rmtree',
    'glob.glob',
    'glob.glob/2',
    'pathlib.Path.glob',
    'tempfile.mkstemp',
    'fcntl.ioctl',
  ],
  processes: [
    'subprocess.Popen',
    'os.system',
    'os.exec',
    'os.spawn',
    'os.posix_spawn',
    'os.fork',
    'os.forkpty',
    'os.kill',
    'os.killpg',
    'os.startfile',
    'os.startfile/2',
    'pty.spawn',
    'signal.pthread_kill',
  ],
  network: [
    'socket.connect',
    'socket.bind',
    'socket.getaddrinfo',
    'socket.__new__',
    'urllib.Request',
    'http.client.connect',
    'http.client.send',
    'ftplib.connect',
    'smtplib.send',
    'poplib.connect',
    'imaplib.open',
    'nntplib.connect',
    'telnetlib.Telnet.open',
    'webbrowser.open',
  ],
  native: [
    'ctypes.dlopen',
    'ctypes.dlsym',
    'ctypes.cdata/buffer',
    'ctypes.call_function',
    'mmap.__new__',
    'os.add_dll_directory',
    'sqlite3.load_extension',
  ],
  serialization: ['pickle.find_class', 'marshal.loads', 'marshal.dumps', 'marshal.load'],
  sys: [
    'sys.addaudithook',
    'sys._getframe',
    'sys.settrace',
    'sys.setprofile',
    'object.__getattr__',
    'object.__setattr__',
    'object.__delattr__',
    'gc.get_objects',
    'gc.get_referrers',
    'cpython._PySys_ClearAuditHooks',
    'cpython.PyInterpreterState_New',
    'setopencodehook',
    'builtins.id',
  ],
  other: ['time.sleep', 'builtins.input', 'array.__new__', 'my.custom.event', '', 'os'],
};

describe('categoryOf', () => {
  for (const [category, events] of Object.entries(samples)) {
    it(`classifies ${category} events`, () => {
      for (const event of events) expect([event, categoryOf(event)]).toEqual([event, category]);
    });
  }

  it('is stable across calls (cached) and for many distinct names', () => {
    const seen = new Set<EventCategory>();
    for (let i = 0; i < 20_000; i++) seen.add(categoryOf(`socket.x${i}`));
    expect([...seen]).toEqual(['network']);
    expect(categoryOf('socket.connect')).toBe('network');
  });

  it('does not treat object prototype names as known events', () => {
    expect(categoryOf('constructor')).toBe('other');
    expect(categoryOf('__proto__')).toBe('other');
  });
});

describe('EVENT_CATEGORIES', () => {
  it('lists every category once with a label', () => {
    expect(EVENT_CATEGORIES.map((c) => c.id)).toEqual(Object.keys(samples));
    for (const c of EVENT_CATEGORIES) expect(categoryLabel(c.id)).toBe(c.label);
  });
});
