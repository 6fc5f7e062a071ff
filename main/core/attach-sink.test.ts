// AttachSink: what an attach waits for from the target (its probe), and a
// refusal of the target's connection before it, which ends the wait at once.
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import { encodeAuditRecord, encodeHelloPayload, v } from '../test-support/wire-encoder.js';
import { AttachSink, PROBE_EVENT } from './attach-run.js';
import { parseHello } from './protocol/hello.js';
import { SessionRecorder } from './recorder.js';
import { SessionWriter, readSessionBlocks } from './session-file.js';

const TARGET = 4242;

function sinkWithFile(): { sink: AttachSink; writer: SessionWriter; file: string } {
  const file = path.join(tempDir('hookscope-attach-sink-'), 's.hks');
  const writer = SessionWriter.create(file, { overwrite: false });
  return { sink: new AttachSink(new SessionRecorder(writer), TARGET), writer, file };
}

/** Whether `promise` settled by now (after pending callbacks ran). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

const peer = { pid: TARGET, uid: 0, gid: 0 };

describe('AttachSink', () => {
  it("ends the wait on a refusal of the target's connection, not of another process's", async () => {
    const { sink } = sinkWithFile();
    sink.refused(TARGET + 1, 'pid 4243 sent no HELLO in time');
    sink.refused(null, 'peer credentials unavailable');
    expect(await settled(sink.refusedBeforeProbe)).toBe(false);
    sink.refused(TARGET, `pid ${TARGET} sent no HELLO in time`);
    await expect(sink.refusedBeforeProbe).resolves.toBe(`pid ${TARGET} sent no HELLO in time`);
  });

  it('takes no refusal after the probe, and records what passes through', async () => {
    const { sink, writer, file } = sinkWithFile();
    sink.processStarted({
      sessionId: 1,
      hello: parseHello(encodeHelloPayload({ pid: TARGET, ppid: 1, argv: ['python3'] })),
      peer,
    });
    sink.events(1, encodeAuditRecord({ seq: 0, event: PROBE_EVENT, args: v.tuple([]) }), 1);
    await expect(sink.probe).resolves.toEqual(expect.any(Number));
    sink.refused(TARGET, 'a later connection of the same process');
    expect(await settled(sink.refusedBeforeProbe)).toBe(false);
    sink.notice('warning', 'refused an agent connection: a later connection of the same process');
    writer.close();
    const types: string[] = [];
    for await (const block of readSessionBlocks(file)) types.push(block.type);
    expect(types).toEqual(['process', 'events', 'notice', 'end']);
  });
});
