import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  parsePolicy,
  parseTrustedIssuers,
  verifyActionProof,
  RevocationState,
  type ActionVerdict,
  type Policy,
  type RevocationsSeen,
  type TrustedIssuers,
} from '../verify/index.ts'
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
      lines.push(`              key vouched for by ${printable(v.lineage.issuer)} (${printable(v.lineage.org)}), lineage:`)
      // From the trusted issuer down: each namespace issued the link below it.
      for (const l of [...v.lineage.links].reverse()) lines.push(`                ${l.role.padEnd(9)} ${printable(l.subject)} (key ${l.subjectKey.slice(0, 16)}…, issued by ${printable(l.issuer)})`)
    }
    lines.push(`  did         ${printable(s.action)}`)
    lines.push(`  on          ${printable(s.target)}`)
    lines.push(`  tool        ${printable(s.tool)}`)
    lines.push(`  request     sha256 ${s.params}`)
    lines.push(`  policy      ${printable(s.policy.id)} v${printable(s.policy.version)}: ${printable(s.policy.decision)}`)
    if (s.delegation.length > 0) lines.push(`  on behalf   ${s.delegation.map((d) => `${printable(d.principal)} (${printable(d.scope)})`).join(' -> ')}`)
    if (s.approval !== undefined) lines.push(`  approved    by ${printable(s.approval.by)} (${printable(s.approval.ref)})`)
    if (s.instruction !== undefined) lines.push(`  instruction sha256 ${s.instruction}`)
    lines.push(`  time        ${iso(s.time)} (the actor's clock)`)
  }
  if (v.ok && v.revocations !== undefined) {
    const r = v.revocations
    lines.push(`  revocations none of the chain's keys revoked before this entry, in the entries 0..${r.checkedTo - 1} an audit checked${r.complete ? '' : ` (NOT complete: this entry is at ${v.index}, past what the audit covers)`}`)
    for (const x of r.suspect) lines.push(`  SUSPECT     ${printable(x.subject)} was revoked by entry ${x.index} with since ${iso(x.since!)}, before this action's time (${printable(x.reason)})`)
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

/**
 * Returns the revocations an audit state directory holds, with the tree
 * size and checkpoint they are complete to. Throws UsageError naming the
 * file when it is not an audit state.
 */
export function loadRevocations(stateDir: string): RevocationsSeen & { checkpointSize: number } {
  const file = join(stateDir, 'state.json')
  let st: { processed?: { treeSize?: unknown }; trusted?: { treeSize?: unknown; note?: unknown }; revocations?: unknown }
  try {
    st = JSON.parse(readFileSync(file, 'utf8')) as typeof st
  } catch (e) {
    throw new UsageError(`--revocations ${stateDir}: cannot read the audit state ${file}: ${(e as Error).message}`)
  }
  const checkedTo = st.processed?.treeSize
  if (typeof checkedTo !== 'number' || !Number.isSafeInteger(checkedTo)) throw new UsageError(`--revocations ${stateDir}: ${file} is not an audit state`)
  let revocations: RevocationState
  try {
    revocations = RevocationState.fromJSON(st.revocations ?? [])
  } catch (e) {
    throw new UsageError(`--revocations ${stateDir}: ${(e as Error).message}`)
  }
  const out: RevocationsSeen & { checkpointSize: number } = { revocations, checkedTo, checkpointSize: typeof st.trusted?.treeSize === 'number' ? st.trusted.treeSize : checkedTo }
  if (typeof st.trusted?.note === 'string') out.checkpoint = st.trusted.note
  return out
}

/** `actlog verify`: returns the exit status (0 valid, 1 invalid). */
export async function verifyCommand(file: string, o: { policy: string; issuers: string; json?: boolean; now?: string; revocations?: string }): Promise<number> {
  let proof: Uint8Array
  try {
    proof = readFileSync(file)
  } catch (e) {
    throw new UsageError(`cannot read the proof ${file}: ${(e as Error).message}`)
  }
  const trust = loadTrust(o.policy, o.issuers)
  const opts: Parameters<typeof verifyActionProof>[1] = o.now === undefined ? { ...trust } : { ...trust, now: parseTime(o.now, '--now') }
  const seen = o.revocations === undefined ? undefined : loadRevocations(o.revocations)
  if (seen !== undefined) opts.revocations = seen
  const verdict = await verifyActionProof(proof, opts)
  console.log(o.json === true ? JSON.stringify(verdict, null, 2) : summarize(verdict))
  if (seen !== undefined && o.json !== true) {
    const which = seen.checkedTo === seen.checkpointSize ? `its checkpoint of ${seen.checkedTo} entries` : `entry ${seen.checkedTo - 1} of its checkpoint of ${seen.checkpointSize} entries (a partial audit)`
    console.log(`revocations from the audit state ${o.revocations}, complete to ${which}${seen.checkpoint !== undefined ? `:\n${seen.checkpoint.split('\n').slice(0, 3).map((l) => `    ${printable(l)}`).join('\n')}` : ''}`)
  }
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
