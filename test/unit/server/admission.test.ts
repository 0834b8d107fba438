import { describe, expect, it } from 'vitest'
import { TlogError, toHex, type SignedStatement } from '../../../src/core/index.ts'
import { ACTOR, makeLog, post, statement } from '../../helpers/log-fixture.ts'

describe('admission', () => {
  it('asks the revocation hook after the dedup lookup and before any signature check, with the parsed chain', async () => {
    const seen: SignedStatement[] = []
    let revoked = false
    const { app, clock, sequencer } = await makeLog({
      deps: {
        revocations: {
          check(s, chain) {
            seen.push(s)
            expect(chain).toBe(s.credentials)
            if (revoked) throw new TlogError('UNTRUSTED', 'revoked (test hook)')
          },
        },
      },
    })
    const logged = await statement(1, clock.now)
    expect((await post(app, logged)).status).toBe(200)
    expect(seen.map((s) => s.statement.actor)).toEqual([ACTOR])
    revoked = true
    // Already logged: answered from the log, the hook is not asked.
    const again = await post(app, logged)
    expect(again.status).toBe(200)
    expect(seen.length).toBe(1)
    // New, with a broken signature: the hook refuses it before the signature is checked.
    const bad = await statement(2, clock.now)
    bad[bad.length - 1]! ^= 1
    const res = await post(app, bad)
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ code: 'UNTRUSTED', message: 'revoked (test hook)' })
    expect(seen.length).toBe(2)
    expect(sequencer.treeSize).toBe(1)
    expect(toHex(seen[1]!.kid)).toBe(toHex(seen[0]!.kid))
  })
})
