// An errno as people read it: the report writers, `show`, the summary and
// the UI's index all name failed opens this way.
import { constants as osConstants } from 'node:os';

// Made at the first failed open named: reading os.constants builds all of
// them, about 3 ms of every command that loads this module, most of which
// never name an errno.
let errnoNames: Map<number, string> | null = null;

/** "ENOENT, errno 2"; errno values are the host's (the agent ran on Linux). */
export function errnoText(errno: number): string {
  errnoNames ??= new Map(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));
  const name = errnoNames.get(errno);
  return name === undefined ? `errno ${errno}` : `${name}, errno ${errno}`;
}
