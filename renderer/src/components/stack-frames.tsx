// A Python stack as recorded by the agent, innermost frame first.
import type { StackFrameRow } from '../../../main/common/ipc-contract.js';

export function StackFrames({ stack, open = false }: { stack: StackFrameRow[]; open?: boolean }) {
  return (
    <details className="intent-stack" open={open}>
      <summary>Python stack ({stack.length} frames, innermost first)</summary>
      <ol>
        {stack.map((f, i) => (
          <li key={i} className="mono">
            {f.file}:{f.line} in {f.function}
            {f.module ? ` (${f.module})` : ''}
          </li>
        ))}
      </ol>
    </details>
  );
}
