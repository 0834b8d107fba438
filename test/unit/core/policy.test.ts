import { describe, expect, it } from 'vitest'
import { isTlogError } from '../../../src/core/errors.ts'
import { encodeVerifierKey } from '../../../src/core/note.ts'
import {
  earliestQuorumTime,
  encodePolicy,
  encodeTrustedIssuers,
  parsePolicy,
  parseTrustedIssuers,
  quorumSatisfied,
} from '../../../src/core/policy.ts'
import { publicKeyFromSeed } from '../../../src/core/sig.ts'

const key = (n: number): Uint8Array => publicKeyFromSeed(new Uint8Array(32).fill(n))
const logKey = encodeVerifierKey('log.example/a', 1, key(1))
const w = (name: string, n: number): string => `witness ${name} ${encodeVerifierKey(`${name.toLowerCase()}.example`, 4, key(n))}`

function refuses(text: string, pattern: RegExp, parse: (t: string) => unknown = parsePolicy): void {
  try {
    parse(text)
    expect.fail(`accepted:\n${text}`)
  } catch (e) {
    expect(isTlogError(e, 'MALFORMED'), String(e)).toBe(true)
    expect((e as Error).message).toMatch(pattern)
  }
}

// The example policy of c2sp.org/tlog-policy ("Example policy"), with real keys in place of <vkey>.
const EXAMPLE = `log ${logKey}

${w('X1', 11)}
${w('X2', 12)}
${w('X3', 13)}
group X-witnesses 2 X1 X2 X3

${w('Y1', 21)}
${w('Y2', 22)}
${w('Y3', 23)}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`

describe('tlog-policy', () => {
  it('parses the spec example and evaluates its nested quorum', () => {
    const p = parsePolicy(EXAMPLE)
    expect(p.logs).toHaveLength(1)
    expect(p.logs[0]!.key.name).toBe('log.example/a')
    expect([...p.witnesses.keys()]).toEqual(['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3'])
    expect(p.groups.get('X-witnesses')!.threshold).toBe(2)
    expect(p.groups.get('Y-witnesses')!.threshold).toBe(1)
    expect(p.groups.get('X-and-Y')!.threshold).toBe(2)
    expect(quorumSatisfied(p, new Set(['X1', 'X2', 'Y3']))).toBe(true)
    expect(quorumSatisfied(p, new Set(['X1', 'Y1', 'Y2', 'Y3']))).toBe(false)
    expect(quorumSatisfied(p, new Set(['X1', 'X2', 'X3']))).toBe(false)
    expect(quorumSatisfied(p, new Set(['X1', 'X3', 'Y2', 'unknown']))).toBe(true)
    expect(quorumSatisfied(p, new Set(['X-witnesses', 'Y-witnesses']))).toBe(false)
  })

  it('gives the earliest time at which the quorum was met', () => {
    const p = parsePolicy(EXAMPLE)
    const times = new Map([
      ['X1', 100],
      ['X2', 300],
      ['X3', 200],
      ['Y1', 250],
      ['Y2', 50],
    ])
    expect(earliestQuorumTime(p, times)).toBe(200)
    expect(earliestQuorumTime(p, new Map([['X1', 1], ['Y1', 2]]))).toBeUndefined()
    expect(earliestQuorumTime(parsePolicy(`log ${logKey}\nquorum none\n`), times)).toBeUndefined()
  })

  it('accepts quorum none, comments, tabs, URLs and a single-witness quorum', () => {
    expect(quorumSatisfied(parsePolicy(`  # only the log\nlog\t${logKey}  https://log.example/a\nquorum none\n`), new Set())).toBe(true)
    const p = parsePolicy(`${w('W', 5)} https://w.example/\nquorum W`)
    expect(p.witnesses.get('W')!.url).toBe('https://w.example/')
    expect(quorumSatisfied(p, new Set(['W']))).toBe(true)
    expect(quorumSatisfied(p, new Set())).toBe(false)
  })

  it('re-encodes to a policy that parses to the same thing', () => {
    const p = parsePolicy(EXAMPLE)
    const again = encodePolicy(p)
    expect(encodePolicy(parsePolicy(again))).toBe(again)
  })

  it('refuses duplicates, forward references, reserved names and bad thresholds', () => {
    refuses(`log ${logKey}\nlog ${logKey}\nquorum none\n`, /duplicate key/)
    refuses(`log ${encodeVerifierKey('other', 1, key(1))}\nlog ${logKey}\nquorum none\n`, /duplicate key/)
    refuses(`${w('A', 5)}\n${w('A', 6)}\nquorum A\n`, /already defined/)
    refuses(`${w('A', 5)}\n${w('B', 5)}\nquorum A\n`, /duplicate key/)
    refuses(`group G any A\n${w('A', 5)}\nquorum G\n`, /earlier line/)
    refuses(`quorum A\n${w('A', 5)}\n`, /earlier line/)
    refuses(`${w('A', 5)}\ngroup G any A A\nquorum G\n`, /twice/)
    refuses(`${w('A', 5)}\ngroup G 2 A\nquorum G\n`, /threshold/)
    refuses(`${w('A', 5)}\ngroup G 0 A\nquorum G\n`, /threshold/)
    refuses(`${w('A', 5)}\ngroup G 01 A\nquorum G\n`, /threshold/)
    refuses(`${w('A', 5)}\ngroup G any\nquorum G\n`, /expected/)
    refuses(`${w('A', 5)}\ngroup none any A\nquorum none\n`, /reserved/)
    refuses(`witness none ${encodeVerifierKey('n', 4, key(5))}\nquorum none\n`, /reserved/)
    refuses(`${w('A', 5)}\ngroup G any A none\nquorum G\n`, /member/)
    refuses(`${w('A', 5)}\ngroup G any G\nquorum G\n`, /earlier line/)
    refuses(`${w('A', 5)}\n`, /no quorum/)
    refuses(`${w('A', 5)}\nquorum A\nquorum A\n`, /exactly one/)
    refuses(`log ${encodeVerifierKey('log', 4, key(1))}\nquorum none\n`, /type 0x01/)
    refuses(`witness A ${encodeVerifierKey('a', 1, key(5))}\nquorum A\n`, /type 0x04/)
    refuses(`frobnicate x\nquorum none\n`, /unknown line type/)
    refuses(`log ${logKey}\u0001\nquorum none\n`, /control/)
    refuses(`log ${logKey}\rquorum none\n`, /control/)
  })

  it('refuses oversized files with TOO_LARGE', () => {
    try {
      parsePolicy('#'.repeat(70_000) + '\nquorum none\n')
      expect.fail('accepted')
    } catch (e) {
      expect(isTlogError(e, 'TOO_LARGE')).toBe(true)
    }
  })
})

describe('trusted issuers', () => {
  const v1 = encodeVerifierKey('issuer.acme.example', 1, key(31))
  const v2 = encodeVerifierKey('issuer.acme.example', 1, key(32))
  it('parses issuers, allowing two keys of one name during a rotation', () => {
    const t = parseTrustedIssuers(`# acme rotates its key\nissuer acme ${v1} spiffe://acme.example/\nissuer acme ${v2} spiffe://acme.example/\n\nissuer beta ${encodeVerifierKey('b', 1, key(33))} svc:\n`)
    expect(t.issuers.map((i) => [i.org, i.name, i.subjectPrefix])).toEqual([
      ['acme', 'issuer.acme.example', 'spiffe://acme.example/'],
      ['acme', 'issuer.acme.example', 'spiffe://acme.example/'],
      ['beta', 'b', 'svc:'],
    ])
    expect(parseTrustedIssuers(encodeTrustedIssuers(t))).toEqual(t)
  })

  it('refuses prefixes that could match a longer name, repeated keys and unknown lines', () => {
    refuses(`issuer acme ${v1} spiffe://acme.example\n`, /end in/, parseTrustedIssuers)
    refuses(`issuer acme ${v1} spiffe://acme.example/\nissuer other ${v1} svc:\n`, /twice/, parseTrustedIssuers)
    refuses(`issuer acme ${v1} svc:\nissuer other ${v2} svc:\n`, /two organisations/, parseTrustedIssuers)
    refuses(`issuer acme ${encodeVerifierKey('x', 4, key(34))} svc:\n`, /type 0x01/, parseTrustedIssuers)
    refuses(`issuer acme ${v1}\n`, /expected/, parseTrustedIssuers)
    refuses(`trust acme ${v1} svc:\n`, /unknown line type/, parseTrustedIssuers)
  })
})
