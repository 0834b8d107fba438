import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The log's Prometheus metrics, on a registry of its own so that several
 * logs in one process (tests) do not share counters.
 */
export class LogMetrics {
  readonly registry = new Registry()
  readonly entries = new Gauge({ name: 'actlog_entries', help: 'Entries in the committed tree', registers: [this.registry] })
  readonly batchSize = new Histogram({
    name: 'actlog_batch_entries',
    help: 'Entries per committed batch',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  })
  readonly fsync = new Histogram({
    name: 'actlog_commit_seconds',
    help: 'Latency of the synced batch write (fsync included)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  })
  readonly queueDepth = new Gauge({ name: 'actlog_queue_depth', help: 'Submissions waiting for a batch', registers: [this.registry] })
  readonly responses = new Counter({
    name: 'actlog_http_responses_total',
    help: 'HTTP responses by status and error code',
    labelNames: ['status', 'code'],
    registers: [this.registry],
  })
  readonly submissions = new Counter({
    name: 'actlog_submissions_total',
    help: 'Statements submitted, by outcome',
    labelNames: ['result'],
    registers: [this.registry],
  })
  readonly admitted = new Counter({
    name: 'actlog_admitted_total',
    help: 'Statements admitted and sequenced (not duplicates), by the organisation of the trusted issuer their chain ends at',
    labelNames: ['organisation'],
    registers: [this.registry],
  })
  readonly rateLimited = new Counter({
    name: 'actlog_rate_limited_total',
    help: 'Statements refused 429 RATE_LIMITED, by organisation and by the quota (identity or organisation) that refused',
    labelNames: ['organisation', 'quota'],
    registers: [this.registry],
  })
  readonly witnessedSize = new Gauge({ name: 'actlog_witnessed_tree_size', help: 'Tree size of the newest checkpoint that meets the witness quorum', registers: [this.registry] })
  readonly witnessRequests = new Counter({
    name: 'actlog_witness_requests_total',
    help: 'add-checkpoint requests to witnesses, by witness and outcome',
    labelNames: ['witness', 'result'],
    registers: [this.registry],
  })

  constructor() {
    // The process's own figures (resident memory, V8 heap and external
    // memory, GC pauses, event-loop delay, CPU): what an operator watches
    // next to the log's, under Prometheus's standard names.
    collectDefaultMetrics({ register: this.registry })
  }

  /** Returns the metrics in the Prometheus text format. */
  async text(): Promise<string> {
    return this.registry.metrics()
  }
}
