/** The benchmark's open-loop driver: due times, its in-flight bound, and its memory when jobs pile up. */
import { describe, expect, it } from 'vitest'
import { openLoop } from '../../../scripts/load.ts'

describe('openLoop', () => {
  it('gives every job its due time and keeps at most maxInFlight running', async () => {
    const dues: number[] = []
    let running = 0
    let most = 0
    const started = performance.now()
    await openLoop(200, 10_000, async (i, due) => {
      dues[i] = due - started
      running++
      most = Math.max(most, running)
      await new Promise((r) => setTimeout(r, 2))
      running--
    }, 7)
    expect(most).toBe(7)
    expect(dues.length).toBe(200)
    for (let i = 1; i < 200; i++) expect(dues[i]! - dues[i - 1]!).toBeCloseTo(0.1, 5)
  })

  it('waits for every job and reports the first failure', async () => {
    let finished = 0
    const run = openLoop(20, 100_000, async (i) => {
      await new Promise((r) => setTimeout(r, 1))
      finished++
      if (i === 3) throw new Error('job 3 failed')
    })
    await expect(run).rejects.toThrow('job 3 failed')
    expect(finished).toBe(20)
  })

  it('holds nothing per running job for each start it waits for at its bound', async () => {
    // 11,000 starts against a bound of 1,000 slow jobs, released one at a
    // time: a driver that attached a reaction to every running job at each
    // wait (Promise.race) would hold 10,000 x 1,000 of them until those jobs
    // ended, about a gigabyte.
    const pending: (() => void)[] = []
    const before = process.memoryUsage().heapUsed
    let peak = 0
    const run = openLoop(11_000, 1e9, () => new Promise<void>((r) => pending.push(r)), 1_000)
    while (pending.length < 1_000) await new Promise((r) => setImmediate(r))
    for (let released = 0; released < 11_000; released++) {
      pending.shift()!()
      await new Promise((r) => setImmediate(r))
      if (released % 1_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - before)
    }
    await run
    expect(pending.length).toBe(0)
    expect(peak).toBeLessThan(100e6)
  })
})
