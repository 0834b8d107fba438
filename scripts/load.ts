/**
 * Load generation for the benchmark: keep-alive HTTP submissions at a fixed
 * offered rate (open loop, so latency is measured at that rate rather than
 * hidden by back-off) or as fast as a number of concurrent clients allows
 * (closed loop).
 */
import http from 'node:http'

/** One HTTP request's outcome. */
export interface Sent {
  status: number
  /** Milliseconds from send to the last byte of the answer. */
  ms: number
  body: Buffer
  /** performance.now() when the answer completed. */
  at: number
}

/** A keep-alive client for one base URL. */
export class Client {
  readonly #url: URL
  readonly #agent: http.Agent

  constructor(base: string, maxSockets = 256) {
    this.#url = new URL(base)
    this.#agent = new http.Agent({ keepAlive: true, maxSockets })
  }

  async request(method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<Sent> {
    const started = performance.now()
    // A kept-alive socket the server closed as idle just as this request went
    // out: the request never reached it, so send it again (the pattern Node's
    // http documentation gives for reusedSocket). Several idle sockets may
    // have closed at once, hence a few tries.
    for (let tries = 1; ; tries++) {
      try {
        return await this.#send(method, path, body, headers, started)
      } catch (err) {
        if ((err as { reused?: boolean }).reused !== true || tries >= 5) throw err
      }
    }
  }

  #send(method: string, path: string, body: Uint8Array | undefined, headers: Record<string, string>, started: number): Promise<Sent> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          path,
          method,
          headers: body === undefined ? headers : { ...headers, 'content-length': String(body.length) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const at = performance.now()
            resolve({ status: res.statusCode ?? 0, ms: at - started, body: Buffer.concat(chunks), at })
          })
          res.on('error', reject)
        },
      )
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) Object.assign(err, { reused: true })
        reject(err)
      })
      req.end(body)
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

/** Returns the p-th percentile (0..100) of sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** Runs `n` jobs with `concurrency` in flight; returns the elapsed seconds. */
export async function closedLoop(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await job(next++)
    }),
  )
  return (performance.now() - started) / 1000
}

/**
 * Starts job i at i / rate seconds (open loop), whatever the answers; returns
 * the elapsed seconds once every job finished. Each job gets the time it was
 * due, so latency can be measured from then: a generator that falls behind
 * must not hide the server's delay (coordinated omission). `maxInFlight`
 * bounds memory if the server falls far behind.
 */
export async function openLoop(n: number, rate: number, job: (i: number, due: number) => Promise<void>, maxInFlight = 20_000): Promise<number> {
  const started = performance.now()
  let inFlight = 0
  let wake: (() => void) | undefined
  let failure: { error: unknown } | undefined
  // One waiter woken per completion: Promise.race over thousands of pending
  // jobs would attach a reaction to each of them on every call, and keep them
  // all until those jobs end (gigabytes once a server falls far behind).
  const done = (): void => {
    inFlight--
    const w = wake
    wake = undefined
    w?.()
  }
  for (let i = 0; i < n; i++) {
    const due = started + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    while (inFlight >= maxInFlight) await new Promise<void>((r) => (wake = r))
    inFlight++
    job(i, due).catch((error: unknown) => void (failure ??= { error })).finally(done)
  }
  while (inFlight > 0) await new Promise<void>((r) => (wake = r))
  if (failure !== undefined) throw failure.error
  return (performance.now() - started) / 1000
}
