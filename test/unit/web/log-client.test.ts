import { describe, expect, it } from 'vitest'
import { buildRevocation, publicKeyFromSeed, toHex } from '../../../src/core/index.ts'
import { decodeEntry } from '../../../src/web/log-client.ts'
import { ACTOR, AGENT_SEED, ISSUER_SEED, statement } from '../../helpers/log-fixture.ts'

describe("the console's decoding of log entries", () => {
  it('decodes an action statement', async () => {
    const e = decodeEntry(3, await statement(3, 1_700_000_000_000))
    expect(e.index).toBe(3)
    expect(e.statement?.actor).toBe(ACTOR)
    expect(e.statement?.target).toBe('acct:DE00000000000000000003')
    expect(e.revocation).toBeUndefined()
  })

  it('decodes a revocation by a trusted issuer key, with its subject, key, times and reason', async () => {
    const key = publicKeyFromSeed(AGENT_SEED)
    const bytes = await buildRevocation({ subject: ACTOR, key, time: 1_700_000_100_000, since: 1_700_000_000_000, reason: 'key leaked' }, { seed: ISSUER_SEED, credentials: [] })
    const e = decodeEntry(9, bytes)
    expect(e.statement).toBeUndefined()
    expect(e.revocation).toEqual({
      subject: ACTOR,
      key: toHex(key),
      time: 1_700_000_100_000,
      since: 1_700_000_000_000,
      reason: 'key leaked',
      revokerKey: toHex(publicKeyFromSeed(ISSUER_SEED)),
    })
  })

  it('says why an entry is neither kind, and never throws', async () => {
    const bytes = await statement(4, 1_700_000_000_000)
    const e = decodeEntry(4, bytes.slice(0, bytes.length - 3))
    expect(e.statement).toBeUndefined()
    expect(e.revocation).toBeUndefined()
    expect(e.problem).toMatch(/./)
  })
})
