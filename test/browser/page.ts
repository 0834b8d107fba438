/**
 * Runs inside headless Chromium. Bundled by the browser test (esbuild,
 * platform browser) next to the bundle of src/verify/index.ts, which it
 * receives as a module object, so the verdicts come from the verifier
 * bundle itself. The raw Ed25519 vectors are checked with core's sig.ts
 * bundled here, through both the browser's WebCrypto and noble, and with
 * `crypto.subtle` directly.
 */
import { fromHex, verifyNoble, verifyWebCrypto, webCryptoEd25519Available } from '../../src/core/index.ts'
import type * as Verify from '../../src/verify/index.ts'

/** What the test passes into the page. */
export interface PageData {
  policy: string
  issuers: string
  /** Milliseconds since the Unix epoch. */
  now: number
  /** Proofs and the verdict wanted: `ok` or a reason code. */
  proofs: { name: string; proof: string; want: string }[]
  consistency: { name: string; old: string; new: string; proofHex: string[]; want: string }[]
  ed25519: { name: string; publicKeyHex: string; messageHex: string; signatureHex: string; valid: boolean }[]
  /** Names of the Ed25519 vectors that RFC 8032 calls valid, checked with crypto.subtle alone. */
  rfc8032: string[]
}

/** One check made in the page. */
export interface PageCheck {
  group: string
  name: string
  want: string
  got: string
  message?: string
}

/** What the page reports back. */
export interface PageResult {
  userAgent: string
  runtime: Verify.RuntimeInfo
  webCryptoEd25519: boolean
  checks: PageCheck[]
}

const ed = { name: 'Ed25519' } as const

function buf(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer
}

/** Runs every check with the verifier module `verify`; never throws, so each failure is reported by name. */
export async function run(verify: typeof Verify, data: PageData): Promise<PageResult> {
  const checks: PageCheck[] = []
  const record = async (group: string, name: string, want: string, f: () => Promise<{ got: string; message?: string }>): Promise<void> => {
    try {
      checks.push({ group, name, want, ...(await f()) })
    } catch (e) {
      checks.push({ group, name, want, got: 'THREW', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    }
  }

  const policy = verify.parsePolicy(data.policy)
  const issuers = verify.parseTrustedIssuers(data.issuers)
  const cache = verify.createVerifyCache()
  for (const p of data.proofs) {
    for (const cached of [false, true]) {
      await record(cached ? 'proof (cached)' : 'proof', p.name, p.want, async () => {
        const v = await verify.verifyActionProof(p.proof, { policy, issuers, now: data.now, ...(cached ? { cache } : {}) })
        return v.ok ? { got: 'ok' } : { got: v.reason, message: v.message }
      })
    }
  }
  for (const c of data.consistency) {
    await record('consistency', c.name, c.want, async () => {
      const v = await verify.verifyCheckpointConsistency(c.old, c.new, c.proofHex.map(fromHex), { policy, now: data.now })
      return v.ok ? { got: 'ok' } : { got: v.reason, message: v.message }
    })
  }
  for (const v of data.ed25519) {
    const pub = fromHex(v.publicKeyHex)
    const msg = fromHex(v.messageHex)
    const sig = fromHex(v.signatureHex)
    const want = String(v.valid)
    await record('ed25519 webcrypto', v.name, want, async () => ({ got: String(await verifyWebCrypto(pub, msg, sig)) }))
    await record('ed25519 noble', v.name, want, async () => ({ got: String(verifyNoble(pub, msg, sig)) }))
    if (data.rfc8032.includes(v.name)) {
      await record('ed25519 crypto.subtle', v.name, want, async () => {
        const key = await crypto.subtle.importKey('raw', buf(pub), ed, false, ['verify'])
        return { got: String(await crypto.subtle.verify(ed, key, buf(sig), buf(msg))) }
      })
    }
  }
  return { userAgent: navigator.userAgent, runtime: await verify.runtimeInfo(), webCryptoEd25519: await webCryptoEd25519Available(), checks }
}
