/** Valid samples of every format, built with the encoders, as seeds for mutation. */
import { toBase64, utf8 } from '../../src/core/bytes.ts'
import { encodeCheckpoint } from '../../src/core/checkpoint.ts'
import { encodeCbor, type CborValue } from '../../src/core/codec.ts'
import { credentialSignedBytes, encodeCredential, type Credential } from '../../src/core/credential.ts'
import { EMPTY_ROOT, sha256 } from '../../src/core/hash.ts'
import { encodeNote, encodeSignerKey, encodeVerifierKey, computeKeyId } from '../../src/core/note.ts'
import { encodeTlogProof } from '../../src/core/proof.ts'
import { publicKeyFromSeed, signSync } from '../../src/core/sig.ts'
import { encodeEntryBundle, tilePath } from '../../src/core/tiles.ts'
import { encodeAddCheckpointRequest, encodeCosignatureResponse } from '../../src/core/witness-protocol.ts'

export interface Samples {
  cbor: Uint8Array[]
  credentials: Uint8Array[]
  notes: Uint8Array[]
  vkeys: Uint8Array[]
  skeys: Uint8Array[]
  checkpoints: Uint8Array[]
  proofs: Uint8Array[]
  witnessRequests: Uint8Array[]
  witnessResponses: Uint8Array[]
  policies: Uint8Array[]
  issuers: Uint8Array[]
  tilePaths: Uint8Array[]
  bundles: Uint8Array[]
  base64: Uint8Array[]
}

export function samples(): Samples {
  const seed = (n: number): Uint8Array => sha256(utf8(`sample seed ${n}`))
  const pub = (n: number): Uint8Array => publicKeyFromSeed(seed(n))
  const h = (n: number): Uint8Array => sha256(utf8(`hash ${n}`))
  const cred = (n: number): Credential => {
    const fields = { issuer: `issuer${n}.example`, subject: `svc:agent-${n}`, subjectKey: pub(n + 100), notBefore: 1_700_000_000_000, notAfter: 1_900_000_000_000 + n }
    return { ...fields, signature: signSync(seed(n), credentialSignedBytes(fields)) }
  }
  const checkpoint = (n: number, ext: string[] = []): string =>
    encodeCheckpoint({ origin: `log${n}.example/actlog`, treeSize: n * 1000 + 7, rootHash: n === 0 ? EMPTY_ROOT : h(n), extensions: ext })
  const note = (n: number, ext: string[] = []): string => {
    const text = checkpoint(n, ext)
    const name = `log${n}.example/actlog`
    const sigs = [{ name, keyId: computeKeyId(name, 1, pub(n)), signature: signSync(seed(n), utf8(text)) }]
    for (let w = 0; w < n % 3; w++) sigs.push({ name: `witness${w}.example`, keyId: w * 77, signature: new Uint8Array(72).fill(w + 1) })
    return encodeNote({ text, signatures: sigs })
  }
  const cbor: CborValue[] = [
    0,
    23,
    24,
    -70001,
    2 ** 40,
    'hello',
    new Uint8Array([1, 2, 3]),
    [1, [2, 'x'], new Map<string | number, CborValue>([['a', 1], [3, -4]])],
    new Map<string | number, CborValue>([['time', 1767225600000], ['nonce', new Uint8Array(16)], ['delegation', [new Map([['scope', 's']])]]]),
  ]
  const vkeys = [encodeVerifierKey('log.example/a', 1, pub(1)), encodeVerifierKey('witness.example/w1', 4, pub(2)), encodeVerifierKey('sum.golang.org', 1, pub(3))]
  const policies = [
    `log ${vkeys[0]}\nwitness W1 ${vkeys[1]}\nwitness W2 ${encodeVerifierKey('w2.example', 4, pub(4))} https://w2.example/\ngroup G 2 W1 W2\nquorum G\n`,
    `# offline\nlog ${vkeys[0]} https://log.example/a\nquorum none\n`,
    `witness W1 ${vkeys[1]}\ngroup A any W1\ngroup B all A\nquorum B\n`,
  ]
  const issuers = [`issuer acme ${encodeVerifierKey('issuer.acme.example', 1, pub(5))} spiffe://acme.example/\n# rotation\nissuer acme ${encodeVerifierKey('issuer.acme.example', 1, pub(6))} spiffe://acme.example/\nissuer beta ${encodeVerifierKey('b', 1, pub(7))} svc:\n`]
  return {
    cbor: cbor.map((v) => encodeCbor(v)),
    credentials: [0, 1, 2].map((n) => encodeCredential(cred(n))),
    notes: [0, 1, 2, 5].map((n) => utf8(note(n, n === 5 ? ['extension line'] : []))),
    vkeys: vkeys.map(utf8),
    skeys: [encodeSignerKey('log.example/a', 1, seed(1)), encodeSignerKey('witness.example/w1', 4, seed(2))].map(utf8),
    checkpoints: [0, 1, 2].map((n) => utf8(checkpoint(n, n === 2 ? ['ext'] : []))),
    proofs: [
      encodeTlogProof({ extra: encodeCredential(cred(1)), index: 1234, proof: [h(1), h(2), h(3)], checkpoint: note(2) }),
      encodeTlogProof({ index: 0, proof: [], checkpoint: note(1) }),
    ].map(utf8),
    witnessRequests: [
      encodeAddCheckpointRequest({ oldSize: 1000, proof: [h(4), h(5)], checkpoint: note(2) }),
      encodeAddCheckpointRequest({ oldSize: 0, proof: [], checkpoint: note(1) }),
    ].map(utf8),
    witnessResponses: [
      encodeCosignatureResponse([
        { name: 'witness.example/w1', keyId: 99, signature: new Uint8Array(72).fill(3) },
        { name: 'witness.example/w2', keyId: 4, signature: new Uint8Array(72).fill(4) },
      ]),
    ].map(utf8),
    policies: policies.map(utf8),
    issuers: issuers.map(utf8),
    tilePaths: [
      tilePath({ level: 0, index: 1234067, width: 256 }),
      tilePath({ level: 2, index: 5, width: 17 }),
      tilePath({ level: 'entries', index: 1000, width: 3 }),
    ].map(utf8),
    bundles: [encodeEntryBundle([new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), encodeCredential(cred(0))])],
    base64: [toBase64(h(1)), toBase64(new Uint8Array([1])), toBase64(new Uint8Array([1, 2]))].map(utf8),
  }
}
