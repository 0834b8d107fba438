import { readFileSync, writeFileSync } from 'node:fs'
import { parsePolicy, parseTrustedIssuers, verifyActionProof, type ActionVerdict, type Policy, type TrustedIssuers } from '../verify/index.ts'
import { baseUrl, LogError } from './client.ts'
import { UsageError } from './files.ts'
import { parseTime } from './time.ts'

/** Reads and parses the policy and issuers files, naming the file in any error. */
export function loadTrust(policyFile: string, issuersFile: string): { policy: Policy; issuers: TrustedIssuers } {
  const read = (file: string, what: string): Uint8Array => {
    try {
      return readFileSync(file)
    } catch (e) {
      throw new UsageError(`cannot read the ${what} ${file}: ${(e as Error).message}`)
    }
  }
  const parse = <T>(file: string, what: string, f: (b: Uint8Array) => T): T => {
    try {
      return f(read(file, what))
    } catch (e) {
      if (e instanceof UsageError) throw e
      throw new UsageError(`${file}: not a valid ${what}: ${(e as Error).message}`)
    }
  }
  return { policy: parse(policyFile, 'policy file', parsePolicy), issuers: parse(issuersFile, 'issuers file', parseTrustedIssuers) }
}

/** Returns `s` with control characters escaped, so a logged field cannot rewrite the terminal. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function iso(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms)
}

/** Returns a short human summary of a verdict: who did what, on whose behalf, under which policy, where logged, witnessed by whom. */
export function summarize(v: ActionVerdict): string {
  const lines: string[] = []
  if (v.ok) lines.push(`VALID: action proof at index ${v.index} of ${printable(v.checkpoint.origin)}`)
  else lines.push(`INVALID: ${v.reason}: ${printable(v.message)}`)
  const s = v.statement
  if (s !== undefined) {
    if (!v.ok) lines.push('  (what the log holds at that index; NOT proven to be signed by the actor)')
    lines.push(`  who         ${printable(s.actor)}`)
    if (v.ok) {
      const via = v.lineage.links.slice(1).map((l) => printable(l.subject))
      lines.push(`              key vouched for by ${printable(v.lineage.issuer)} (${printable(v.lineage.org)})${via.length > 0 ? ` via ${via.join(', ')}` : ''}`)
    }
    lines.push(`  did         ${printable(s.action)}`)
    lines.push(`  on          ${printable(s.target)}`)
    lines.push(`  tool        ${printable(s.tool)}`)
    lines.push(`  request     sha256 ${s.params}`)
    lines.push(`  policy      ${printable(s.policy.id)} v${printable(s.policy.version)}: ${printable(s.policy.decision)}`)
    if (s.delegation.length > 0) lines.push(`  on behalf   ${s.delegation.map((d) => `${printable(d.principal)} (${printable(d.scope)})`).join(' -> ')}`)
    if (s.approval !== undefined) lines.push(`  approved    by ${printable(s.approval.by)} (${printable(s.approval.ref)})`)
    lines.push(`  time        ${iso(s.time)} (the actor's clock)`)
  }
  if (v.checkpoint !== undefined) {
    const idx = v.index !== undefined ? `index ${v.index} of ` : ''
    lines.push(`  logged      ${idx}a tree of ${v.checkpoint.treeSize} entries signed by ${printable(v.log ?? v.checkpoint.origin)}`)
    if (v.witnesses !== undefined && v.witnesses.length > 0) {
      const names = v.witnesses.map((w) => printable(w.name))
      const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
      lines.push(`  witnessed   by ${list}${v.loggedBy !== undefined ? `; provably logged by ${iso(v.loggedBy * 1000)}` : ''}`)
    } else if (v.ok) {
      lines.push('  witnessed   by no witness (the policy requires none)')
    }
  }
  return lines.join('\n')
}

/** `actlog verify`: returns the exit status (0 valid, 1 invalid). */
export async function verifyCommand(file: string, o: { policy: string; issuers: string; json?: boolean; now?: string }): Promise<number> {
  let proof: Uint8Array
  try {
    proof = readFileSync(file)
  } catch (e) {
    throw new UsageError(`cannot read the proof ${file}: ${(e as Error).message}`)
  }
  const trust = loadTrust(o.policy, o.issuers)
  const opts = o.now === undefined ? trust : { ...trust, now: parseTime(o.now, '--now') }
  const verdict = await verifyActionProof(proof, opts)
  console.log(o.json === true ? JSON.stringify(verdict, null, 2) : summarize(verdict))
  return verdict.ok ? 0 : 1
}

/** `actlog proof`: fetches the proof of an index, verifies it, and saves it when valid. Returns the exit status. */
export async function proofCommand(index: string, o: { log: string; policy: string; issuers: string; out?: string; waitWitnessed?: boolean; json?: boolean }): Promise<number> {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(index)) throw new UsageError(`<index> must be a non-negative integer (got ${JSON.stringify(index)})`)
  const trust = loadTrust(o.policy, o.issuers)
  const res = await fetch(`${baseUrl(o.log)}/proof/${index}${o.waitWitnessed === true ? '?wait=witnessed' : ''}`)
  const text = await res.text()
  if (!res.ok) {
    let code = `HTTP_${res.status}`
    let message = text
    try {
      ;({ code, message } = JSON.parse(text) as { code: string; message: string })
    } catch {
      // Not a JSON error body.
    }
    throw new LogError(res.status, code, message)
  }
  const verdict = await verifyActionProof(text, trust)
  console.log(o.json === true ? JSON.stringify(verdict, null, 2) : summarize(verdict))
  if (!verdict.ok) {
    console.error('actlog: the log served a proof that does not verify; it was not saved')
    return 1
  }
  const out = o.out ?? `${index}.tlog-proof`
  writeFileSync(out, text)
  if (o.json !== true) console.log(`saved to ${out}`)
  return 0
}
