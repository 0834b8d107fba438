import { describe, expect, it } from 'vitest'
import { sha256, toBase64, utf8 } from '../../../src/core/index.ts'
import { CONSOLE_CONFIG_ELEMENT, consolePage } from '../../../src/server/console-page.ts'
import { makeLog } from '../../helpers/log-fixture.ts'

const TEMPLATE = `<!doctype html><html><head>${CONSOLE_CONFIG_ELEMENT}</head><body><script>start()</script></body></html>`

describe('the console page a log serves', () => {
  it('embeds the config as inert JSON, even when a policy holds </script>', () => {
    const hostile = 'log x\n</script><script>alert(1)</script>\n<!--'
    const { html } = consolePage(TEMPLATE, { origin: 'o', policy: hostile, issuers: 'i' })
    expect(html.match(/<script/g)).toHaveLength(2)
    const json = /<script id="actlog-config" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!
    expect(json).not.toContain('<')
    expect(JSON.parse(json)).toEqual({ origin: 'o', policy: hostile, issuers: 'i' })
  })

  it("allows only the page's own script, by hash, in its CSP", () => {
    const { csp } = consolePage(TEMPLATE, { origin: 'o', policy: 'p', issuers: 'i' })
    expect(csp).toContain(`script-src 'sha256-${toBase64(sha256(utf8('start()')))}'`)
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-eval')
  })

  it('refuses a template without the config element', () => {
    expect(() => consolePage('<html></html>', { origin: 'o', policy: 'p', issuers: 'i' })).toThrow(TypeError)
  })

  it('is served at / with its CSP, and / is 404 when the log has no page', async () => {
    const bare = await makeLog()
    expect((await bare.app.request('/')).status).toBe(404)
    await bare.sequencer.close()
    const page = consolePage(TEMPLATE, { origin: 'o', policy: 'p', issuers: 'i' })
    const f = await makeLog({ consolePage: page })
    const res = await f.app.request('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toBe(page.csp)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(await res.text()).toBe(page.html)
    await f.sequencer.close()
  })
})
