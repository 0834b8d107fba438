import { checkRevocation, parseEntry, parseTlogProof, toHex, type TlogProof } from '../core/index.ts'
import { verifyActionProof, type Policy, type TrustedIssuers } from '../verify/index.ts'
import { download, h, replace } from './dom.ts'
import { decodeRevocation, type LogClient } from './log-client.ts'
import { code, revocationCard, verdictCard, type RevocationCheck } from './verdict-card.ts'

/**
 * Returns the Entry view of `#/entry/<index>`: the entry's .tlog-proof from
 * the log, verified here like a dropped proof (the decoded statement, its
 * lineage, its witnesses), the inclusion proof hash by hash, and a button
 * that saves the proof file.
 */
export function entryView(client: LogClient, trust: { policy: Policy; issuers: TrustedIssuers }, index: number): HTMLElement {
  const title = h('h2', { id: 'entry-title' }, `Entry ${index.toLocaleString('en')}`)
  const section = h('section', { id: 'entry', 'aria-labelledby': 'entry-title' }, title, h('p', { role: 'status' }, 'Reading the entry and its proof…'))
  void (async () => {
    const proofText = await client.proof(index)
    const verdict = await verifyActionProof(proofText, trust)
    let parsed: TlogProof | undefined
    try {
      parsed = parseTlogProof(proofText)
    } catch {
      // A proof that does not parse is shown as its verdict (MALFORMED_PROOF) only.
    }
    const hashes = parsed?.proof.map(toHex) ?? []
    let card = verdictCard(verdict, `entry ${index}`)
    // A revocation is not an action statement: once the checkpoint and the
    // inclusion verified (index set), it is decoded and its authority checked.
    if (!verdict.ok && verdict.reason === 'MALFORMED_STATEMENT' && verdict.index !== undefined && parsed?.extra !== undefined) {
      try {
        const e = parseEntry(parsed.extra)
        if (e.kind === 'revocation') {
          let check: RevocationCheck
          try {
            check = { ok: true, ...(await checkRevocation(e.revocation, { issuers: trust.issuers })) }
          } catch (err) {
            check = { ok: false, message: `The revocation does not hold: ${err instanceof Error ? err.message : String(err)}` }
          }
          card = revocationCard(decodeRevocation(e.revocation), check, verdict, `entry ${index}`)
        }
      } catch {
        // Neither kind: the verdict card says why.
      }
    }
    const nav = h(
      'nav',
      { class: 'pager', 'aria-label': 'neighbouring entries' },
      index > 0 ? h('a', { href: `#/entry/${index - 1}` }, `← Entry ${index - 1}`) : null,
      ' ',
      h('a', { href: '#/log' }, 'Back to the log'),
      ' ',
      h('a', { href: `#/entry/${index + 1}` }, `Entry ${index + 1} →`),
    )
    replace(
      section,
      title,
      h('p', {}, h('button', { type: 'button', id: 'download-proof', onclick: () => download(`${index}.tlog-proof`, proofText) }, `Download ${index}.tlog-proof`), ' to keep it, or to verify it with ', code('actlog verify'), '.'),
      card,
      h(
        'details',
        { class: 'panel' },
        h('summary', {}, `Inclusion proof (${hashes.length} hashes, from the leaf up)`),
        h('ol', { class: 'hashes', start: 0 }, ...hashes.map((x) => h('li', {}, code(x, 'hash')))),
        h('h4', {}, 'Checkpoint'),
        h('pre', { class: 'note' }, parsed?.checkpoint ?? ''),
      ),
      nav,
    )
  })().catch((e: unknown) => {
    replace(section, title, h('p', { class: 'error', role: 'alert' }, `Could not read entry ${index}: ${e instanceof Error ? e.message : String(e)}`))
  })
  return section
}
