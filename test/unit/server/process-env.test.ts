import { describe, expect, it } from 'vitest'
import { serverEnv } from '../../../src/server/process-env.ts'

describe('server process environment', () => {
  it('fixes the malloc settings by default and keeps the rest', () => {
    expect(serverEnv({ PATH: '/bin' })).toEqual({ PATH: '/bin', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '32768' })
  })

  it("leaves an operator's own settings to win", () => {
    expect(serverEnv({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072' })).toEqual({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '131072' })
  })
})
