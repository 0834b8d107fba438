import type { LogStore } from '../storage/index.ts'
import type { Sequencer } from './sequencer.ts'

/** The checkpoints the log publishes: with witnesses, only those that meet the quorum. */
export interface CheckpointSource {
  /** The checkpoint GET /checkpoint serves (with its cosignatures). */
  published(): string
  /** Resolves with the published checkpoint once one covers `treeSize`; rejects OVERLOADED after `timeoutMs`. */
  waitWitnessed(treeSize: number, timeoutMs: number): Promise<string>
  /** The published checkpoint of exactly `treeSize`, if there is one. */
  publishedAt(treeSize: number): Promise<string | undefined>
}

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
