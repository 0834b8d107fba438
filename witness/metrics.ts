import { Counter, Gauge, Registry } from 'prom-client'

/**
 * The witness's Prometheus metrics, on a registry of its own so that several
 * witnesses in one process (tests) do not share counters. Origin labels are
 * bounded: only origins from the configuration are ever used as labels.
 */
export class WitnessMetrics {
  readonly registry = new Registry()
  readonly responses = new Counter({
    name: 'actlog_witness_http_responses_total',
    help: 'HTTP responses by status',
    labelNames: ['status'],
    registers: [this.registry],
  })
  readonly cosignatures = new Counter({
    name: 'actlog_witness_cosignatures_total',
    help: 'Cosignatures issued, by log origin',
    labelNames: ['origin'],
    registers: [this.registry],
  })
  readonly evidence = new Counter({
    name: 'actlog_witness_evidence_total',
    help: 'Refused requests with a valid log signature kept as evidence, by log origin and reason',
    labelNames: ['origin', 'reason'],
    registers: [this.registry],
  })
  readonly evidenceWriteFailures = new Counter({
    name: 'actlog_witness_evidence_write_failures_total',
    help: 'Evidence that could not be stored because the write failed',
    registers: [this.registry],
  })
  readonly storeWriteFailures = new Counter({
    name: 'actlog_witness_store_write_failures_total',
    help: 'Failed writes of a new cosigned checkpoint, by whether they may have persisted',
    labelNames: ['persisted'],
    registers: [this.registry],
  })
  readonly treeSize = new Gauge({
    name: 'actlog_witness_tree_size',
    help: 'Tree size of the latest checkpoint cosigned, by log origin',
    labelNames: ['origin'],
    registers: [this.registry],
  })

  /** Returns the metrics in the Prometheus text format. */
  async text(): Promise<string> {
    return this.registry.metrics()
  }
}
