// An errno as people read it: the report writers, `show`, the summary and
// the UI's index all name failed opens this way.
import { constants as osConstants } from 'node:os';

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** "ENOENT, errno 2"; errno values are the host's (the agent ran on Linux). */
export function errnoText(errno: number): string {
  const name = ERRNO_NAMES.get(errno);
  return name === undefined ? `errno ${errno}` : `${name}, errno ${errno}`;
}
