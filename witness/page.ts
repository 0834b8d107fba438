import { cosignatureTimestamp, parseNote, sha256, toBase64, toHex, utf8 } from '../src/core/index.ts'
import type { CosignedCheckpoint } from './state.ts'

/**
 * The witness's page at `/`: which logs it witnesses and the latest
 * checkpoint it cosigned for each (size, root, time), with links to the
 * monitoring endpoint that serves it. Plain HTML and no script: a witness
 * shows what it vouches for, nothing more.
 */

/** One witnessed log as the page shows it. */
export interface WitnessedRow {
  origin: string
  latest: CosignedCheckpoint | undefined
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Returns `s` escaped for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

/** Returns the time of this witness's cosignature (key `name`+`keyId`) on `note`, in ms, or undefined when it is not there. */
function cosignedAt(note: string, name: string, keyId: number): number | undefined {
  try {
    const sig = parseNote(note).signatures.find((s) => s.name === name && s.keyId === keyId)
    return sig === undefined ? undefined : cosignatureTimestamp(sig.signature) * 1000
  } catch {
    return undefined
  }
}

/** Returns the witness page for the witness `name` (its cosigner key `keyId`) at time `now` (ms). */
export function witnessPage(name: string, keyId: number, rows: readonly WitnessedRow[], now: number): string {
  const body = rows
    .map((r) => {
      const path = `${toHex(sha256(utf8(r.origin)))}/checkpoint`
      if (r.latest === undefined) return `<tr><th scope="row"><code>${escapeHtml(r.origin)}</code></th><td colspan="3">nothing cosigned yet</td></tr>`
      const at = cosignedAt(r.latest.note, name, keyId)
      const when = at === undefined ? 'unknown' : `${new Date(at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')} (${Math.max(0, Math.round((now - at) / 1000))} s ago)`
      return (
        `<tr data-origin="${escapeHtml(r.origin)}"><th scope="row"><code>${escapeHtml(r.origin)}</code></th>` +
        `<td class="size">${r.latest.treeSize}</td><td><code>${toBase64(r.latest.rootHash)}</code></td><td>${escapeHtml(when)}</td>` +
        `<td><a href="${path}">checkpoint</a></td></tr>`
      )
    })
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>witness ${escapeHtml(name)}</title>
<style>
html{font:16px/1.5 system-ui,sans-serif;color:#1b1f24}body{max-width:60rem;margin:0 auto;padding:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
thead th{border-bottom:2px solid #57606a}code{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}.muted{color:#57606a}
div{overflow-x:auto}caption{text-align:left;padding:.25rem 0}
</style></head><body>
<h1>Witness <code>${escapeHtml(name)}</code></h1>
<p class="muted">A c2sp.org/tlog-witness: it cosigns a log's checkpoint only after checking that it extends the last one it cosigned. Below, the latest it cosigned for each log it witnesses.</p>
<div><table><caption class="muted">${rows.length} witnessed log${rows.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Log origin</th><th scope="col">Latest cosigned size</th><th scope="col">Root hash</th><th scope="col">Cosigned at</th><th scope="col">Note</th></tr></thead>
<tbody>
${body}
</tbody></table></div>
</body></html>
`
}
