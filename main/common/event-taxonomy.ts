// Groups CPython audit event names into a few categories for summaries and
// filters. Shared with the renderer: plain TypeScript, no Node imports.
//
// Names come from the CPython audit events table (3.8 – 3.13). Anyone may
// raise any name, so unknown names are normal and land in 'other'.

export type EventCategory =
  | 'imports'
  | 'code'
  | 'files'
  | 'processes'
  | 'network'
  | 'native'
  | 'serialization'
  | 'sys'
  | 'other';

export interface EventCategoryInfo {
  id: EventCategory;
  label: string;
  description: string;
}

/** Every category, in display order. */
export const EVENT_CATEGORIES: readonly EventCategoryInfo[] = [
  { id: 'imports', label: 'Imports', description: 'imports and code files opened for execution' },
  { id: 'code', label: 'Code execution', description: 'exec, compile, code objects, run_*' },
  { id: 'files', label: 'Files', description: 'open, os and shutil file operations, globbing' },
  { id: 'processes', label: 'Processes', description: 'subprocesses, exec, fork, signals' },
  { id: 'network', label: 'Network', description: 'sockets and network protocol clients' },
  { id: 'native', label: 'Native code', description: 'ctypes, native libraries, mmap' },
  { id: 'serialization', label: 'Serialization', description: 'pickle and marshal loading' },
  { id: 'sys', label: 'Interpreter', description: 'sys hooks, frames, gc, object attributes' },
  { id: 'other', label: 'Other', description: 'everything else' },
];

const LABELS = new Map(EVENT_CATEGORIES.map((c) => [c.id, c.label]));

export function categoryLabel(category: EventCategory): string {
  return LABELS.get(category) ?? category;
}

/** Whole event names. Checked before prefixes. */
const EXACT: Readonly<Record<string, EventCategory>> = {
  import: 'imports',
  'io.open_code': 'imports',
  dlopen: 'native',
  'ensurepip.bootstrap': 'imports',

  exec: 'code',
  compile: 'code',
  'code.__new__': 'code',
  'function.__new__': 'code',

  open: 'files',
  'sqlite3.connect': 'files',
  'sqlite3.connect/handle': 'files',

  'os.exec': 'processes',
  'os.fork': 'processes',
  'os.forkpty': 'processes',
  'os.kill': 'processes',
  'os.killpg': 'processes',
  'os.posix_spawn': 'processes',
  'os.spawn': 'processes',
  'os.system': 'processes',
  'os.putenv': 'processes',
  'os.unsetenv': 'processes',
  'pty.spawn': 'processes',
  'signal.pthread_kill': 'processes',
  'subprocess.Popen': 'processes',

  'urllib.Request': 'network',
  'webbrowser.open': 'network',

  'os.add_dll_directory': 'native',
  'mmap.__new__': 'native',
  'sqlite3.enable_load_extension': 'native',
  'sqlite3.load_extension': 'native',

  'builtins.id': 'sys',
  'builtins.breakpoint': 'sys',
  setopencodehook: 'sys',
  'pdb.Pdb': 'sys',

  'builtins.input': 'other',
  'builtins.input/result': 'other',
  'time.sleep': 'other',
};

/**
 * Name prefixes; the longest matching one wins, so 'cpython.run_' beats
 * 'cpython.' and 'os.startfile' beats 'os.'.
 */
const PREFIXES: ReadonlyArray<readonly [string, EventCategory]> = (
  [
    ['zipimport.', 'imports'],
    ['importlib.', 'imports'],

    ['cpython.run_', 'code'],

    ['os.', 'files'],
    ['shutil.', 'files'],
    ['glob.', 'files'],
    ['pathlib.', 'files'],
    ['tempfile.', 'files'],
    ['fcntl.', 'files'],
    ['msvcrt.', 'files'],

    ['os.exec', 'processes'],
    ['os.spawn', 'processes'],
    ['os.posix_spawn', 'processes'],
    ['os.startfile', 'processes'],
    ['subprocess.', 'processes'],
    ['_winapi.', 'processes'],

    ['socket.', 'network'],
    ['http.client.', 'network'],
    ['urllib.', 'network'],
    ['ftplib.', 'network'],
    ['smtplib.', 'network'],
    ['poplib.', 'network'],
    ['imaplib.', 'network'],
    ['nntplib.', 'network'],
    ['telnetlib.', 'network'],
    ['ssl.', 'network'],

    ['ctypes.', 'native'],
    ['_ctypes.', 'native'],
    ['mmap.', 'native'],

    ['pickle.', 'serialization'],
    ['marshal.', 'serialization'],
    ['shelve.', 'serialization'],
    ['copyreg.', 'serialization'],

    ['sys.', 'sys'],
    ['cpython.', 'sys'],
    ['object.', 'sys'],
    ['gc.', 'sys'],
    ['resource.', 'sys'],
    ['winreg.', 'sys'],
  ] as const
)
  .slice()
  .sort((a, b) => b[0].length - a[0].length);

// Event names are attacker-controlled (any code may raise any name), so the
// cache is bounded: past the limit, names are classified without caching.
const CACHE_LIMIT = 10_000;
const cache = new Map<string, EventCategory>();

export function categoryOf(event: string): EventCategory {
  const cached = cache.get(event);
  if (cached !== undefined) return cached;
  const category = classify(event);
  if (cache.size < CACHE_LIMIT) cache.set(event, category);
  return category;
}

function classify(event: string): EventCategory {
  if (Object.prototype.hasOwnProperty.call(EXACT, event)) return EXACT[event] as EventCategory;
  for (const [prefix, category] of PREFIXES) {
    if (event.startsWith(prefix)) return category;
  }
  return 'other';
}
