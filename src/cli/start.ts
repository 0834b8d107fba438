import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeVerifierKey, issueCredential, sha256, toHex, utf8 } from '../core/index.ts'
import { readKeyFile, vkeyOf, writeCredentialFile } from './files.ts'
import { keygen } from './keys.ts'
import { serverEnv } from '../server/main.ts'

/**
 * `actlog start` (what `npm start` runs): one log and two witnesses as
 * separate processes on LevelDB under one data directory. The first run
 * creates keys, configurations, a policy and a demo organisation; later runs
 * reuse them. Ctrl-C stops all three.
 */

const ACTLOG = fileURLToPath(new URL('./actlog.js', import.meta.url))
const ORIGIN = 'localhost/actlog'
const ISSUER = 'issuer.acme.example'
const PREFIX = 'spiffe://acme.example/'
/** The demo organisation's agents live in a namespace: the issuer vouches for its key, which vouches for each agent. */
const AGENTS = `${PREFIX}agents/`
const AGENT = `${AGENTS}payments`

interface Layout {
  dir: string
  log: { key: string; config: string; port: number }
  witnesses: { name: string; key: string; config: string; port: number }[]
  policy: string
  issuers: string
  issuerKey: string
  namespaceKey: string
  namespaceCred: string
  agentKey: string
  agentCred: string
  action: string
}

function layout(dir: string, port: number): Layout {
  return {
    dir,
    log: { key: join(dir, 'keys', 'log.key'), config: join(dir, 'log.json'), port },
    witnesses: [1, 2].map((n) => ({
      name: `localhost/witness-${n}`,
      key: join(dir, 'keys', `witness-${n}.key`),
      config: join(dir, `witness-${n}.json`),
      port: port + n,
    })),
    policy: join(dir, 'policy.txt'),
    issuers: join(dir, 'issuers.txt'),
    issuerKey: join(dir, 'keys', 'issuer.key'),
    namespaceKey: join(dir, 'demo', 'agents-namespace.key'),
    namespaceCred: join(dir, 'demo', 'agents-namespace.cred'),
    agentKey: join(dir, 'demo', 'payments-agent.key'),
    agentCred: join(dir, 'demo', 'payments-agent.cred'),
    action: join(dir, 'demo', 'payment.json'),
  }
}

const json = (file: string, v: unknown): void => writeFileSync(file, JSON.stringify(v, null, 2) + '\n')
const ensureKey = (kind: string, name: string, out: string): void => {
  if (!existsSync(out)) keygen({ kind, name, out })
}

/** Creates whatever of the local setup is missing; never overwrites a key. */
async function setup(l: Layout): Promise<void> {
  mkdirSync(join(l.dir, 'keys'), { recursive: true })
  mkdirSync(join(l.dir, 'demo'), { recursive: true })
  ensureKey('log', ORIGIN, l.log.key)
  for (const w of l.witnesses) ensureKey('witness', w.name, w.key)
  ensureKey('issuer', ISSUER, l.issuerKey)
  ensureKey('actor', AGENTS, l.namespaceKey)
  ensureKey('actor', AGENT, l.agentKey)
  const logVkey = vkeyOf(readKeyFile(l.log.key))
  const issuer = readKeyFile(l.issuerKey)
  const witnessVkeys = l.witnesses.map((w) => vkeyOf(readKeyFile(w.key)))
  writeFileSync(
    l.policy,
    [
      '# Trust policy (c2sp.org/tlog-policy) of the local actlog: give it to verifiers and auditors.',
      `log ${logVkey} http://127.0.0.1:${l.log.port}`,
      ...l.witnesses.map((w, i) => `witness W${i + 1} ${witnessVkeys[i]} http://127.0.0.1:${w.port}`),
      'group both all W1 W2',
      'quorum both',
      '',
    ].join('\n'),
  )
  writeFileSync(l.issuers, `# Issuers this log and its verifiers trust.\nissuer acme ${encodeVerifierKey(issuer.name, 1, issuer.publicKey)} ${PREFIX}\n`)
  json(l.log.config, {
    origin: ORIGIN,
    dataDir: 'log',
    keyFile: relative(l.dir, l.log.key),
    listen: `127.0.0.1:${l.log.port}`,
    issuersFile: 'issuers.txt',
    policyFile: 'policy.txt',
  })
  l.witnesses.forEach((w, i) =>
    json(w.config, {
      name: w.name,
      keyFile: relative(l.dir, w.key),
      dataDir: `witness-${i + 1}`,
      listen: `127.0.0.1:${w.port}`,
      logs: [{ origin: ORIGIN, vkeys: [logVkey] }],
    }),
  )
  if (!existsSync(l.agentCred)) {
    const ns = readKeyFile(l.namespaceKey)
    const agent = readKeyFile(l.agentKey)
    const now = Date.now()
    const window = { notBefore: now - 60_000, notAfter: now + 365 * 86_400_000 }
    const nsCred = await issueCredential({ issuer: ISSUER, subject: AGENTS, subjectKey: ns.publicKey, ...window }, issuer.seed)
    writeCredentialFile(l.namespaceCred, [nsCred], `namespace credential of ${AGENTS}, issued by ${ISSUER}`)
    const cred = await issueCredential({ issuer: AGENTS, subject: AGENT, subjectKey: agent.publicKey, ...window }, ns.seed)
    writeCredentialFile(l.agentCred, [cred, nsCred], `credential chain of ${AGENT}: issued by the namespace ${AGENTS}, itself by ${ISSUER}`)
  }
  if (!existsSync(l.action)) {
    json(l.action, {
      action: 'payments.transfer',
      target: 'acct:DE89370400440532013000',
      tool: 'mcp://tools.acme.example/payments@1.4.2',
      params: toHex(sha256(utf8('{"amount":1200,"currency":"EUR","ref":"INV-10001"}'))),
      policy: { id: 'payments-limit', version: '7', decision: 'allow' },
      delegation: [
        { principal: 'user:alice@acme.example', scope: 'payments:transfer' },
        { principal: 'svc:treasury-orchestrator', scope: 'payments:transfer:eur' },
      ],
      approval: { by: 'user:bob@acme.example', ref: 'CHG-2026-0001' },
    })
  }
}

interface Child {
  name: string
  proc: ChildProcess
  exited: Promise<number | null>
  url: Promise<string>
}

function launch(name: string, args: string[], onLine: (line: string) => void): Child {
  const proc = spawn(process.execPath, [ACTLOG, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv() })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const url = new Promise<string>((resolve, reject) => {
    let buffer = ''
    const onData = (d: Buffer): void => {
      buffer += d.toString()
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        const m = /^serving (\S+)/.exec(line)
        if (m !== null) resolve(m[1]!)
        else onLine(line)
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    void exited.then((code) => reject(new Error(`${name} exited with status ${code}`)))
  })
  url.catch(() => {})
  return { name, proc, exited, url }
}

/** Runs the local log and witnesses until Ctrl-C. Returns the exit status. */
export async function runLocal(o: { dataDir: string; port: number }): Promise<number> {
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65533) throw new RangeError('--port must be 1..65533')
  const l = layout(o.dataDir, o.port)
  const first = !existsSync(l.log.config)
  await setup(l)
  if (first) console.log(`created keys, configurations and a policy in ${l.dir}/`)
  const children: Child[] = []
  const say = (name: string) => (line: string) => console.log(`[${name}] ${line}`)
  let stopping = false
  const stopAll = async (): Promise<void> => {
    stopping = true
    // The log first, so it stops asking the witnesses; then the witnesses.
    for (const c of [...children].reverse()) {
      c.proc.kill('SIGTERM')
      await c.exited
    }
  }
  try {
    for (const [i, w] of l.witnesses.entries()) children.push(launch(`witness-${i + 1}`, ['witness', '--config', w.config], say(`witness-${i + 1}`)))
    await Promise.all(children.map((c) => c.url))
    children.push(launch('log', ['serve', '--config', l.log.config], say('log')))
    await children[children.length - 1]!.url
  } catch (e) {
    console.error(`actlog: could not start: ${(e as Error).message}. If a port is in use, run with --port <n> (the log uses it, the witnesses the next two).`)
    await stopAll()
    return 1
  }
  const [w1, w2, log] = await Promise.all(children.map((c) => c.url))
  const cli = `node ${relative(process.cwd(), ACTLOG)}`
  const rel = (p: string): string => relative(process.cwd(), p)
  console.log(`
actlog is running:
  log        ${log}   origin ${ORIGIN}
  witness 1  ${w1}
  witness 2  ${w2}
  policy     ${rel(l.policy)}   (the log key, both witnesses, quorum: both)
  issuers    ${rel(l.issuers)}  (acme may vouch for ${PREFIX}...)

Submit a demo action and get its witnessed proof (in another terminal):
  ${cli} submit --log ${log} --key ${rel(l.agentKey)} --credentials ${rel(l.agentCred)} --file ${rel(l.action)} --wait-witnessed --out payment.tlog-proof

Verify the proof offline:
  ${cli} verify payment.tlog-proof --policy ${rel(l.policy)} --issuers ${rel(l.issuers)}

Submit a realistic mix of actions by several agents:
  ${cli} demo --log ${log} --issuer-key ${rel(l.issuerKey)} --out ${rel(join(l.dir, 'demo', 'run'))}

Press Ctrl-C to stop the log and both witnesses.
`)
  const signal = new Promise<'signal'>((resolve) => {
    process.once('SIGINT', () => resolve('signal'))
    process.once('SIGTERM', () => resolve('signal'))
  })
  const died = Promise.race(children.map((c) => c.exited.then((code) => ({ c, code }))))
  const why = await Promise.race([signal, died])
  if (why === 'signal') {
    console.log('\nstopping...')
    await stopAll()
    console.log('stopped')
    return 0
  }
  if (!stopping) console.error(`actlog: ${why.c.name} exited with status ${why.code}; stopping the others`)
  await stopAll()
  return 1
}
