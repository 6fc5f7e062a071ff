// Worker threads that format events blocks of the json and csv reports
// side by side (report-worker.ts), so a large export uses the machine's
// cores instead of one. The calling thread reads the session, applies the
// filter and writes the results in file order.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { FormatReply, FormatTask } from './report-worker.js';

/** More threads than this gain little: the calling thread's reading and writing is the limit. */
const MAX_THREADS = 4;

export interface FormatPoolOptions {
  /** Threads to start (1: none, format on the calling thread); default: the CPUs there are, at most MAX_THREADS. */
  threads?: number | undefined;
  /** The compiled worker script; default: report-worker.js beside this module. */
  script?: string;
}

export class FormatPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<
    number,
    { resolve: (bytes: Buffer) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;
  private nextWorker = 0;
  private failure: Error | null = null;

  private constructor(script: string, threads: number) {
    this.workers = [];
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(script);
      worker.on('message', (reply: FormatReply) => this.answer(reply));
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`a report thread exited with code ${code}`));
      });
      this.workers.push(worker);
    }
  }

  /**
   * A pool, or null where threads would not help or cannot run: one CPU
   * (or one thread asked for);
   * no compiled worker script (running from the TypeScript sources, as the
   * unit tests do); or inside Electron, whose asar a worker's module
   * loader is not known to read (the desktop app formats on its main
   * thread, as before).
   */
  static open(options: FormatPoolOptions = {}): FormatPool | null {
    const threads = options.threads ?? Math.min(MAX_THREADS, os.availableParallelism());
    if (threads < 2) return null;
    if (process.versions['electron'] !== undefined) return null;
    const script = options.script ?? path.join(__dirname, 'report-worker.js');
    if (!fs.existsSync(script)) return null;
    return new FormatPool(script, threads);
  }

  get threads(): number {
    return this.workers.length;
  }

  /** Formats `task` on the next thread; its records and offsets are handed over (transferred). */
  format(task: FormatTask): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length] as Worker;
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, task }, [
        task.records.buffer as ArrayBuffer,
        task.offsets.buffer as ArrayBuffer,
      ]);
    });
  }

  /** Stops the threads; tasks still waiting fail. */
  async close(): Promise<void> {
    this.fail(new Error('the report threads were stopped'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private answer(reply: FormatReply): void {
    const waiter = this.waiting.get(reply.id);
    if (waiter === undefined) return;
    this.waiting.delete(reply.id);
    if ('error' in reply) waiter.reject(new Error(`a report thread failed: ${reply.error}`));
    else {
      waiter.resolve(
        Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength),
      );
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
