// Every block of a session file, for tests that check more than events.
import { SessionReader, type SessionBlock } from '../core/session-file.js';

export async function readBlocks(file: string): Promise<SessionBlock[]> {
  const reader = await SessionReader.open(file);
  const blocks: SessionBlock[] = [];
  try {
    for await (const block of reader.blocks()) blocks.push(block);
  } finally {
    await reader.close();
  }
  return blocks;
}
