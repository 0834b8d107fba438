import { describe, expect, it } from 'vitest'
import { toBase64 } from '../../../src/core/bytes.ts'
import { encodeCheckpoint, parseCheckpoint } from '../../../src/core/checkpoint.ts'
import { cosignatureMessage, cosignatureSigner, cosignatureTimestamp, cosignatureVerifier } from '../../../src/core/cosignature.ts'
import { isTlogError } from '../../../src/core/errors.ts'
import { EMPTY_ROOT } from '../../../src/core/hash.ts'
import {
  checkSignatures,
  computeKeyId,
  ed25519Signer,
  ed25519Verifier,
  encodeSignerKey,
  encodeVerifierKey,
  isValidKeyName,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from '../../../src/core/note.ts'
import { publicKeyFromSeed } from '../../../src/core/sig.ts'

const seedA = new Uint8Array(32).fill(0xa1)
const seedB = new Uint8Array(32).fill(0xb2)
const pubA = publicKeyFromSeed(seedA)
const pubB = publicKeyFromSeed(seedB)
const text = 'example.com/log\n3\n' + toBase64(EMPTY_ROOT) + '\n'

async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    expect(isTlogError(e), String(e)).toBe(true)
    return (e as { code: string }).code
  }
  return undefined
}

describe('signed notes', () => {
  it('signs and opens a note, ignoring unknown signers', async () => {
    const note = await signNote(text, [ed25519Signer('a.example', seedA), ed25519Signer('b.example', seedB)])
    const opened = await openNote(note, [ed25519Verifier('a.example', pubA)])
    expect(opened.note.text).toBe(text)
    expect(opened.verified.map((v) => v.signature.name)).toEqual(['a.example'])
    expect(opened.note.signatures).toHaveLength(2)
  })

  it('rejects a note whose known signer does not verify, and one with no known signer', async () => {
    const note = await signNote(text, [ed25519Signer('a.example', seedA)])
    expect(await code(openNote(note.replace('\n3\n', '\n4\n'), [ed25519Verifier('a.example', pubA)]))).toBe('BAD_SIGNATURE')
    expect(await code(openNote(note, [ed25519Verifier('b.example', pubB)]))).toBe('UNTRUSTED')
    // Same name, other key: a different key ID, so it is an unknown signer, not a bad signature.
    expect(await code(openNote(note, [ed25519Verifier('a.example', pubB)]))).toBe('UNTRUSTED')
  })

  it('reports a repeated signature line once, and checks every different signature of a known key', async () => {
    const note = await signNote(text, [ed25519Signer('a.example', seedA), ed25519Signer('a.example', seedA)])
    const opened = await openNote(note, [ed25519Verifier('a.example', pubA)])
    expect(opened.verified).toHaveLength(1)
    const n = parseNote(note)
    const forged = { ...n.signatures[0]!, signature: n.signatures[0]!.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) }
    const twice = { text: n.text, signatures: [n.signatures[0]!, forged] }
    expect(await code(openNote(twice, [ed25519Verifier('a.example', pubA)]))).toBe('BAD_SIGNATURE')
  })

  it('reports each signature for callers that choose their own policy', async () => {
    const note = parseNote(await signNote(text, [ed25519Signer('a.example', seedA), ed25519Signer('b.example', seedB)]))
    const checks = await checkSignatures(note, [ed25519Verifier('b.example', pubB)])
    expect(checks.map((c) => [c.signature.name, c.verifier !== undefined, c.valid])).toEqual([
      ['a.example', false, false],
      ['b.example', true, true],
    ])
  })

  it('splits text from signatures at the last blank line', () => {
    const n = parseNote('a\n\nb\n\n\u2014 k AAAAAAA=\n')
    expect(n.text).toBe('a\n\nb\n')
    expect(n.signatures[0]).toMatchObject({ name: 'k', keyId: 0 })
  })

  it('refuses malformed notes', async () => {
    const ok = await signNote(text, [ed25519Signer('a.example', seedA)])
    const bad = [
      text,
      ok.replace('\u2014', '-'),
      ok.slice(0, -1),
      ok + '\n',
      ok.replace('\u2014 a.example ', '\u2014 a.example  '),
      ok.replace('\u2014 a.example ', '\u2014  '),
      ok.replace('log\n', 'log\r\n'),
      ok.replace('log\n', 'log\u0000\n'),
      ok.replace('\u2014 a.example ', '\u2014 a+b '),
      text + '\n\u2014 k AAAA\n',
      text + '\n\u2014 k AAAAAAA\n',
      text + '\n\u2014 k AAAAAAB=\n',
      text + '\n',
      text + '\n' + '\u2014 k AAAAAAA=\n'.repeat(65),
    ]
    for (const b of bad) expect(await code(() => parseNote(b)), JSON.stringify(b)).toBe('MALFORMED')
    expect(await code(() => parseNote(new Uint8Array([0x61, 0x0a, 0x0a, 0xff])))).toBe('MALFORMED')
    expect(await code(() => parseNote('x'.repeat(300_000)))).toBe('TOO_LARGE')
  })
})

describe('keys', () => {
  it('round-trips verifier and signer keys and checks the key ID', () => {
    const vkey = encodeVerifierKey('log.example/a', 1, pubA)
    const k = parseVerifierKey(vkey)
    expect(k).toMatchObject({ name: 'log.example/a', type: 1, keyId: computeKeyId('log.example/a', 1, pubA) })
    const s = parseSignerKey(encodeSignerKey('log.example/a', 1, seedA))
    expect(s.publicKey).toEqual(pubA)
    expect(s.keyId).toBe(k.keyId)
    expect(parseVerifierKey(encodeVerifierKey('w.example', 4, pubA)).keyId).not.toBe(k.keyId)
  })

  it('refuses malformed, mismatched and weak keys', async () => {
    const vkey = encodeVerifierKey('log.example/a', 1, pubA)
    const [name, id, b64] = [vkey.split('+')[0]!, vkey.split('+')[1]!, vkey.split('+').slice(2).join('+')]
    const bad = [
      `${name}+00000000+${b64}`,
      `${name}+${id.toUpperCase()}+${b64}`,
      `${name}+${id}`,
      `+${id}+${b64}`,
      `${name} x+${id}+${b64}`,
      `${name}+${id}+${b64.slice(0, -4)}`,
      `${name}+${id}+${b64}=`,
      encodeVerifierKey('n', 1, pubA).replace(/\+A/, '+B'),
      // The identity point: small order, so refused everywhere.
      `n+${computeKeyId('n', 1, smallOrder()).toString(16).padStart(8, '0')}+${toBase64(new Uint8Array([1, ...smallOrder()]))}`,
    ]
    for (const b of bad) expect(await code(() => parseVerifierKey(b)), b).toBe('MALFORMED')
    expect(await code(() => parseSignerKey('PRIVATE+KEY+x'))).toBe('MALFORMED')
    expect(isValidKeyName('a b')).toBe(false)
    expect(isValidKeyName('a\u00a0b')).toBe(false)
    expect(isValidKeyName('')).toBe(false)
    expect(isValidKeyName('go.sum database tree')).toBe(false)
    expect(isValidKeyName('sum.golang.org')).toBe(true)
  })
})

function smallOrder(): Uint8Array {
  const p = new Uint8Array(32)
  p[0] = 1
  return p
}

describe('checkpoints', () => {
  it('round-trips bodies with extension lines', () => {
    const c = { origin: 'go.sum database tree', treeSize: 20852163, rootHash: EMPTY_ROOT, extensions: ['ext one', 'x'] }
    const t = encodeCheckpoint(c)
    expect(t).toBe(`go.sum database tree\n20852163\n${toBase64(EMPTY_ROOT)}\next one\nx\n`)
    expect(parseCheckpoint(t)).toEqual(c)
  })

  it('refuses bodies that are not exactly three or more valid lines', async () => {
    const root = toBase64(EMPTY_ROOT)
    for (const b of [
      `o\n1\n${root}`,
      `o\n1\n`,
      `\n1\n${root}\n`,
      `o\n01\n${root}\n`,
      `o\n-1\n${root}\n`,
      `o\n1.0\n${root}\n`,
      `o\n9007199254740992\n${root}\n`,
      `o\n1\n${root.slice(0, -4)}\n`,
      `o\n1\n${root}\n\n`,
      `o\n1\n${root}\next\n\n`,
    ]) {
      expect(await code(() => parseCheckpoint(b)), JSON.stringify(b)).toBe('MALFORMED')
    }
  })
})

describe('cosignature/v1', () => {
  it('signs the exact message of tlog-cosignature ("Ed25519 signed message")', () => {
    const body = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
    expect(new TextDecoder().decode(cosignatureMessage(body, 1679315147))).toBe(
      'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    )
  })

  it('cosigns and verifies, with key ID type 0x04 and the timestamp', async () => {
    const signer = cosignatureSigner('witness.example/w1', seedB, () => 1700000000)
    const note = await signNote(text, [ed25519Signer('a.example', seedA), signer])
    const v = cosignatureVerifier('witness.example/w1', pubB)
    expect(v.keyId).toBe(computeKeyId('witness.example/w1', 4, pubB))
    const opened = await openNote(note, [ed25519Verifier('a.example', pubA), v])
    expect(opened.verified).toHaveLength(2)
    const cosig = opened.verified[1]!.signature.signature
    expect(cosig.length).toBe(72)
    expect(cosignatureTimestamp(cosig)).toBe(1700000000)
    // A plain Ed25519 verifier with the same key does not accept a cosignature (other key ID).
    await expect(openNote(note, [ed25519Verifier('witness.example/w1', pubB)])).rejects.toMatchObject({ code: 'UNTRUSTED' })
  })

  it('rejects a cosignature whose timestamp was changed', async () => {
    const note = await signNote(text, [cosignatureSigner('w', seedB, () => 5)])
    const n = parseNote(note)
    n.signatures[0]!.signature[7] = 6
    const checks = await checkSignatures(n, [cosignatureVerifier('w', pubB)])
    expect(checks[0]!.valid).toBe(false)
  })

  it('refuses timestamps beyond 2^63 - 1 and reports huge ones as Infinity', async () => {
    const sig = new Uint8Array(72)
    sig.fill(0xff, 0, 8)
    expect(await code(() => cosignatureTimestamp(sig))).toBe('MALFORMED')
    sig[0] = 0x7f
    expect(cosignatureTimestamp(sig)).toBe(Infinity)
  })
})
