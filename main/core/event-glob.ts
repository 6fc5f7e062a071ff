// Matching event names against a glob, shared by `hookscope show --event`
// and the UI's event filter.
import picomatch from 'picomatch';

/**
 * Event names are dotted, not paths, but a few real ones contain '/'
 * (`os.startfile/2`, `ctypes.cdata/buffer`), which picomatch treats as a
 * separator that `*` cannot cross. Both the glob and the name get '/'
 * mapped to a private-use character, so `ctypes.*` matches every ctypes
 * event and `*` never stops anywhere. `dot: true` lets `*` match names
 * that start with '.'; matching is case-sensitive, like event names.
 */
export function eventMatcher(glob: string): (event: string) => boolean {
  const isMatch = picomatch(glob.replace(/\//g, SLASH_STAND_IN), {
    dot: true,
    nocase: false,
    windows: false,
  });
  return (event) => isMatch(event.replace(/\//g, SLASH_STAND_IN));
}

const SLASH_STAND_IN = '\ue000';
