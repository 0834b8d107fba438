import type { LogStore } from '../storage/index.ts'
import type { CheckpointSource } from './app.ts'
import type { Sequencer } from './sequencer.ts'

/**
 * The checkpoints of a log without witnesses: every log-signed checkpoint is
 * published as soon as it is durable (the policy's quorum is `none`).
 */
export class LogSignedCheckpoints implements CheckpointSource {
  constructor(
    readonly sequencer: Sequencer,
    readonly store: LogStore,
  ) {}

  published(): string {
    return this.sequencer.checkpoint
  }

  async waitWitnessed(): Promise<string> {
    return this.sequencer.checkpoint
  }

  async publishedAt(treeSize: number): Promise<string | undefined> {
    return treeSize <= this.sequencer.treeSize ? this.sequencer.checkpointAt(treeSize) : undefined
  }
}
