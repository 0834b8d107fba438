import cliProgress from 'cli-progress'
import { audit, writeAuditReport, type AuditOutcome } from '../audit/index.ts'
import { UsageError } from './files.ts'
import { parseTime } from './time.ts'
import { loadTrust, printable } from './verify.ts'

/** Options of `actlog audit`. */
export interface AuditCommandOptions {
  log: string
  policy: string
  issuers: string
  state: string
  actor?: string
  org?: string
  since?: string
  witness?: string[]
  maxEntries?: string
  follow?: string
  report?: string
}

function report(r: AuditOutcome, state: string): number {
  if (!r.ok) {
    const p = r.problem
    console.error(`AUDIT STOPPED: ${p.kind}: ${printable(p.message)}`)
    if (typeof p.evidence.index === 'number') console.error(`  at index ${p.evidence.index}`)
    console.error(`  evidence: ${p.reportFile}`)
    return 1
  }
  const ids = Object.entries(r.counts).sort((a, b) => b[1] - a[1])
  console.log(`${r.complete ? 'complete' : 'partial'}: checked ${r.processedThisRun} new entries (${r.processed} of ${r.checkpoint.treeSize})`)
  if (r.complete) console.log(`every action up to checkpoint ${r.checkpoint.treeSize} (root ${r.checkpoint.rootHash}) of ${printable(r.checkpoint.origin)} is recorded`)
  else console.log(`run again to continue from entry ${r.processed}`)
  for (const [id, n] of ids) console.log(`  ${String(n).padStart(7)}  ${printable(id)}`)
  for (const [subject, revs] of Object.entries(r.revocations)) {
    for (const x of revs) {
      const since = x.since === undefined ? '' : `, compromise suspected since ${new Date(x.since).toISOString()}: ${x.suspect.length} earlier action(s) suspect${x.suspect.length > 0 ? ` (indices ${x.suspect.slice(0, 10).join(', ')}${x.suspect.length > 10 ? ', …' : ''})` : ''}`
      console.log(`  REVOKED  ${printable(subject)} key ${x.key.slice(0, 16)}… by entry ${x.index} (${x.authority}: ${printable(x.reason)})${since}`)
    }
  }
  if (r.otherIssuers > 0) console.log(`  ${String(r.otherIssuers).padStart(7)}  actions credentialed by issuers you do not trust (other organisations; signatures checked)`)
  console.log(`records in ${state}/records/, report in ${r.reportFile ?? `${state}/state.json`}`)
  return 0
}

/** `actlog audit`: returns the exit status (0 checked, 1 a problem was found). */
export async function auditCommand(o: AuditCommandOptions): Promise<number> {
  const trust = loadTrust(o.policy, o.issuers)
  const maxEntries = o.maxEntries === undefined ? undefined : Number(o.maxEntries)
  if (maxEntries !== undefined && (!Number.isSafeInteger(maxEntries) || maxEntries < 1)) throw new UsageError('--max-entries must be a positive integer')
  const follow = o.follow === undefined ? undefined : Number(o.follow)
  if (follow !== undefined && !(follow >= 1)) throw new UsageError('--follow takes the seconds between passes, at least 1')
  const tty = process.stderr.isTTY === true
  for (;;) {
    const bar = tty ? new cliProgress.SingleBar({ format: 'auditing [{bar}] {value}/{total} entries  {rate} entries/s', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined
    let started = false
    const opts: Parameters<typeof audit>[0] = {
      log: o.log,
      ...trust,
      stateDir: o.state,
      witnesses: o.witness ?? [],
      onWarning: (m) => console.error(`warning: ${m}`),
      onProgress: (p) => {
        if (bar === undefined) return
        if (!started) {
          bar.start(p.target, p.processed, { rate: 0 })
          started = true
        }
        bar.update(p.processed, { rate: Math.round(p.rate) })
      },
    }
    if (o.actor !== undefined) opts.actor = o.actor
    if (o.org !== undefined) opts.org = o.org
    if (o.since !== undefined) opts.since = parseTime(o.since, '--since')
    if (maxEntries !== undefined) opts.maxEntries = maxEntries
    let r: AuditOutcome
    try {
      r = await audit(opts)
    } finally {
      if (started) bar?.stop()
    }
    const code = report(r, o.state)
    // Written after a problem too: the page shows it beside the counts.
    if (o.report !== undefined) {
      const w = await writeAuditReport(o.state, o.report)
      console.log(`HTML report in ${o.report} (${w.actions} actions of ${w.identities} identities)`)
    }
    if (code !== 0 || follow === undefined) return code
    await new Promise((res) => setTimeout(res, follow * 1000))
  }
}
