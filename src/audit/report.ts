import { createReadStream, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { AuditRecord } from './records.ts'
import { loadState, writeAtomic, type AuditState } from './state.ts'

/**
 * The audit report as one static HTML page (`actlog audit ... --report
 * <file.html>`), read from an audit's state directory: the checkpoint the
 * records are complete to, counts per organisation and per identity, a
 * timeline per identity, and the problems the audit found. No script and
 * no request: it opens from disk, and mails or archives as one file.
 */

/** Most recent actions listed per identity (the records files hold them all). */
const RECENT = 5
/** Bars in an identity's timeline. */
const BUCKETS = 48

/** One identity's part of the report. */
export interface IdentitySummary {
  identity: string
  org: string
  issuer: string
  count: number
  first: number
  last: number
  /** Actions per bucket, evenly over [first, last]. */
  timeline: number[]
  recent: AuditRecord[]
}

/** A problem the audit stopped on (a problem-*.json file of the state directory). */
export interface ReportedProblem {
  file: string
  kind: string
  message: string
  index?: number
}

/** Everything the report shows. */
export interface AuditReport {
  state: AuditState
  identities: IdentitySummary[]
  orgs: { org: string; identities: number; count: number }[]
  problems: ReportedProblem[]
}

/** Returns the report of the audit in `stateDir`, reading its state, records and problem files. Throws when there is no audit state there. */
export async function readAuditReport(stateDir: string): Promise<AuditReport> {
  const state = loadState(stateDir)
  if (state === undefined) throw new Error(`${stateDir} holds no audit state (state.json); run actlog audit with --state ${stateDir} first`)
  const identities: IdentitySummary[] = []
  const recordsDir = join(stateDir, 'records')
  // Only the lengths the state counts: bytes after them are from an interrupted run.
  for (const [name, length] of Object.entries(state.files).sort()) {
    if (!name.endsWith('.jsonl') || length === 0) continue
    identities.push(await summarise(join(recordsDir, name), length))
  }
  identities.sort((a, b) => b.count - a.count || (a.identity < b.identity ? -1 : 1))
  const byOrg = new Map<string, { org: string; identities: number; count: number }>()
  for (const s of identities) {
    const o = byOrg.get(s.org) ?? { org: s.org, identities: 0, count: 0 }
    o.identities++
    o.count += s.count
    byOrg.set(s.org, o)
  }
  const problems: ReportedProblem[] = []
  for (const f of readdirSync(stateDir).filter((n) => /^problem-.*\.json$/.test(n)).sort()) {
    try {
      const p = JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as { kind?: unknown; message?: unknown; evidence?: { index?: unknown } }
      const r: ReportedProblem = { file: f, kind: String(p.kind), message: String(p.message) }
      if (typeof p.evidence?.index === 'number') r.index = p.evidence.index
      problems.push(r)
    } catch (e) {
      problems.push({ file: f, kind: 'unreadable', message: `the problem file does not parse: ${(e as Error).message}` })
    }
  }
  return { state, identities, orgs: [...byOrg.values()].sort((a, b) => b.count - a.count), problems }
}

/** Reads one identity's JSON Lines records (the first `length` bytes) into its summary, streaming: a file may hold millions. */
async function summarise(file: string, length: number): Promise<IdentitySummary> {
  const times: number[] = []
  const recent: AuditRecord[] = []
  let first: AuditRecord | undefined
  const lines = createInterface({ input: createReadStream(file, { start: 0, end: length - 1 }), crlfDelay: Infinity })
  for await (const line of lines) {
    if (line === '') continue
    const r = JSON.parse(line) as AuditRecord
    first ??= r
    times.push(r.time)
    recent.push(r)
    if (recent.length > RECENT) recent.shift()
  }
  if (first === undefined) throw new Error(`${file} holds no records`)
  let lo = Infinity
  let hi = -Infinity
  for (const t of times) {
    if (t < lo) lo = t
    if (t > hi) hi = t
  }
  const timeline = new Array<number>(BUCKETS).fill(0)
  const span = Math.max(1, hi - lo)
  for (const t of times) timeline[Math.min(BUCKETS - 1, Math.floor(((t - lo) / span) * BUCKETS))]!++
  return { identity: first.actor, org: first.org, issuer: first.issuer, count: times.length, first: lo, last: hi, timeline, recent: recent.reverse() }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Returns `s` escaped for HTML text and attributes: every logged value is attacker-chosen text. */
function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

function iso(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}

/** Returns an identity's timeline as an inline SVG bar chart with a text alternative. */
function timelineSvg(s: IdentitySummary): string {
  const peak = Math.max(1, ...s.timeline)
  const w = 240
  const hgt = 32
  const bw = w / s.timeline.length
  const bars = s.timeline
    .map((n, i) => (n === 0 ? '' : `<rect x="${(i * bw).toFixed(1)}" y="${(hgt - (hgt * n) / peak).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${((hgt * n) / peak).toFixed(1)}"/>`))
    .join('')
  const label = `${s.count} actions from ${iso(s.first)} to ${iso(s.last)}, at most ${peak} in one of ${s.timeline.length} equal periods`
  return `<svg class="timeline" viewBox="0 0 ${w} ${hgt}" role="img" aria-label="${esc(label)}" preserveAspectRatio="none"><line x1="0" y1="${hgt}" x2="${w}" y2="${hgt}"/>${bars}</svg>`
}

/** Returns the report as one HTML page, generated at `now` (ms). */
export function renderAuditReport(r: AuditReport, now: number): string {
  const s = r.state
  const t = s.trusted
  const complete = t !== undefined && s.processed.treeSize === t.treeSize
  const filter = Object.entries(s.filter)
    .map(([k, v]) => `${k} ${k === 'since' ? iso(v as number) : String(v)}`)
    .join(', ')
  const total = r.identities.reduce((a, b) => a + b.count, 0)
  const status =
    r.problems.length > 0
      ? `<p class="bad"><strong>✗ The audit found ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}</strong>; see Problems below.</p>`
      : complete
        ? `<p class="ok"><strong>✓ Complete:</strong> every entry up to the checkpoint below was checked, and the records list every matching action up to it.</p>`
        : `<p class="bad"><strong>Partial:</strong> ${s.processed.treeSize.toLocaleString('en')} of ${(t?.treeSize ?? 0).toLocaleString('en')} entries checked; run the audit again to finish.</p>`
  const orgRows = r.orgs.map((o) => `<tr data-org="${esc(o.org)}"><th scope="row">${esc(o.org)}</th><td class="num">${o.identities}</td><td class="num count">${o.count}</td></tr>`).join('\n')
  const idRows = r.identities
    .map(
      (i) =>
        `<tr data-identity="${esc(i.identity)}"><th scope="row"><code>${esc(i.identity)}</code><br><span class="muted">${esc(i.org)} · ${esc(i.issuer)}</span></th>` +
        `<td class="num count">${i.count}</td><td>${esc(iso(i.first))}<br>${esc(iso(i.last))}</td><td>${timelineSvg(i)}</td></tr>`,
    )
    .join('\n')
  const timelines = r.identities
    .map(
      (i) =>
        `<section class="identity"><h3><code>${esc(i.identity)}</code></h3><p>${i.count.toLocaleString('en')} action${i.count === 1 ? '' : 's'}, ${esc(iso(i.first))} to ${esc(iso(i.last))}. The latest:</p>` +
        `<table><thead><tr><th scope="col" class="num">Index</th><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Decision</th><th scope="col">On behalf of</th></tr></thead><tbody>` +
        i.recent
          .map(
            (a) =>
              `<tr><td class="num">${a.index}</td><td>${esc(iso(a.time))}</td><td>${esc(a.action)}</td><td><code>${esc(a.target)}</code></td>` +
              `<td>${esc(`${a.policy.id}@${a.policy.version}: ${a.policy.decision}`)}</td><td>${esc(a.delegation.map((d) => d.principal).join(' › ') || '—')}</td></tr>`,
          )
          .join('') +
        `</tbody></table></section>`,
    )
    .join('\n')
  const problems =
    r.problems.length === 0
      ? '<p>None: no checkpoint failed its checks or contradicted an earlier one, and every entry matched its tiles.</p>'
      : `<ul>${r.problems.map((p) => `<li class="bad"><strong>${esc(p.kind)}</strong>${p.index === undefined ? '' : ` at index ${p.index}`}: ${esc(p.message)} <span class="muted">(evidence in ${esc(p.file)})</span></li>`).join('')}</ul>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>actlog audit report · ${esc(s.origin)}</title>
<style>
html{font:16px/1.5 system-ui,sans-serif;color:#1b1f24}body{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}h3{font-size:1rem;margin:1.25rem 0 .25rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
thead th{border-bottom:2px solid #57606a}.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}.muted{color:#57606a}.ok{color:#116329}.bad{color:#a40e26}
dl{display:grid;grid-template-columns:minmax(8rem,14rem) 1fr;gap:.25rem 1rem}dt{font-weight:600;color:#57606a}dd{margin:0;min-width:0}
.timeline{width:15rem;height:2rem;display:block}.timeline rect{fill:#0550ae}.timeline line{stroke:#57606a}
div.scroll{overflow-x:auto}@media (max-width:40rem){dl{grid-template-columns:1fr}}
</style></head><body>
<h1>Audit report: <code>${esc(s.origin)}</code></h1>
${status}
<dl>
<dt>Log</dt><dd><code>${esc(s.log)}</code></dd>
<dt>Checkpoint</dt><dd id="checkpoint" data-size="${t?.treeSize ?? 0}">${t === undefined ? 'none trusted yet' : `tree size <strong>${t.treeSize.toLocaleString('en')}</strong>, root <code>${esc(t.rootHash)}</code>`}</dd>
<dt>Entries checked</dt><dd id="processed" data-size="${s.processed.treeSize}">${s.processed.treeSize.toLocaleString('en')}</dd>
<dt>Actions recorded</dt><dd id="total" data-count="${total}">${total.toLocaleString('en')} by ${r.identities.length} identit${r.identities.length === 1 ? 'y' : 'ies'}${filter === '' ? '' : ` (recorded only: ${esc(filter)})`}</dd>
<dt>Other organisations</dt><dd>${s.otherIssuers.toLocaleString('en')} actions credentialed by issuers this audit does not trust (their signatures checked, not recorded)</dd>
<dt>Report written</dt><dd>${esc(iso(now))}</dd>
</dl>
<h2>Per organisation</h2>
<div class="scroll"><table id="orgs"><thead><tr><th scope="col">Organisation</th><th scope="col" class="num">Identities</th><th scope="col" class="num">Actions</th></tr></thead><tbody>
${orgRows}
</tbody></table></div>
<h2>Per identity</h2>
<div class="scroll"><table id="identities"><thead><tr><th scope="col">Identity</th><th scope="col" class="num">Actions</th><th scope="col">First, last</th><th scope="col">Timeline</th></tr></thead><tbody>
${idRows}
</tbody></table></div>
<h2>Problems</h2>
<div id="problems">${problems}</div>
<h2>Timeline per identity</h2>
${timelines}
<p class="muted">Written by actlog audit from ${esc('state.json')} and the records in ${esc('records/')}; every action listed there is in the log up to the checkpoint above.</p>
</body></html>
`
}

/** Writes the report of the audit in `stateDir` to `file` (atomically); returns the identities and actions it counts. */
export async function writeAuditReport(stateDir: string, file: string, now = Date.now()): Promise<{ identities: number; actions: number }> {
  const r = await readAuditReport(stateDir)
  writeAtomic(file, renderAuditReport(r, now))
  return { identities: r.identities.length, actions: r.identities.reduce((a, b) => a + b.count, 0) }
}
