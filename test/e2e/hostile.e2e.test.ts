/**
 * Hostile input (scripts/hostile.ts) against a real log process and a real
 * witness process: 10,000 requests of every hostile kind to every endpoint,
 * and 100 slow senders held open meanwhile. `npm run hostile` sends
 * 1,000,000.
 */
import { describe, expect, it } from 'vitest'
import { formatHostile, runHostile } from '../../scripts/hostile.ts'

const MB = 1024 * 1024

describe('hostile input, 10,000 requests', () => {
  it('never crashes, never answers 5xx but 503, answers errors as documented, leaves the stored state as it was, keeps memory bounded, and cuts off slow senders', async () => {
    const s = await runHostile({ requests: 10_000, concurrency: 32, seed: 11, slowSenders: 100 })
    console.log(formatHostile(s))
    expect(s.samples).toEqual([])
    expect(s.requests).toBe(10_000)
    expect(s.violations).toBe(0)
    expect(s.crashes).toBe(0)
    expect(s.stateUnchanged).toBe(true)
    for (const p of [s.rss.log, s.rss.witness]) {
      expect(p.peak).toBeLessThan(400 * MB)
      expect(p.after - p.before).toBeLessThan(120 * MB)
    }
    // Every kind of input was sent, and the servers answered most of it.
    expect(Object.keys(s.byKind).length).toBeGreaterThanOrEqual(25)
    expect((s.byStatus.log['400'] ?? 0) + (s.byStatus.witness['400'] ?? 0)).toBeGreaterThan(3000)
    // Slow senders: the servers close them once their headers (10 s) or
    // their whole request (30 s) take too long, and serve others meanwhile.
    expect(s.slow.cutOff).toBe(s.slow.opened)
    expect(s.slow.earliestMs).toBeGreaterThan(9_000)
    expect(s.slow.latestMs).toBeLessThan(35_000)
    expect(s.slow.healthzMsWhileHeld).toBeLessThan(1000)
  }, 180_000)
})
