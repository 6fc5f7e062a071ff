// An AgentSink for AgentServer tests: keeps what the server reports.
import type { AgentSink } from '../core/agent-server.js';

export class CollectingSink implements AgentSink {
  notices: string[] = [];
  started: number[] = [];
  eventFrames = 0;
  processStarted(p: { hello: { pid: number } }): void {
    this.started.push(p.hello.pid);
  }
  events(): void {
    this.eventFrames++;
  }
  drops(): void {}
  processEnded(): void {}
  notice(_level: string, message: string): void {
    this.notices.push(message);
  }
  refusals: { pid: number | null; why: string }[] = [];
  refused(pid: number | null, why: string): void {
    this.refusals.push({ pid, why });
  }
}
