import { Command, CommanderError, Option } from 'commander'
import { isTlogError, usePlatformEd25519, useSha256 } from '../core/index.ts'
import { StoreLockedError, StoreOpenError, ed25519Workers, loadLogConfig, nodeSha256, startLog } from '../server/main.ts'
import { loadWitnessConfig, startWitness } from '../../witness/main.ts'
import { LogError } from './client.ts'
import { runDemo } from './demo.ts'
import { UsageError } from './files.ts'
import { KEY_KINDS, issueCredentialCommand, keygen } from './keys.ts'
import { revoke } from './revoke.ts'
import { submit } from './submit.ts'
import { proofCommand, verifyCommand } from './verify.ts'
import { auditCommand } from './audit.ts'

/**
 * The `actlog` command: one entry point for keys, credentials, the log
 * server, submissions and the demo. Exit status: 0 success, 1 failure,
 * 2 usage error.
 */
const program = new Command()
  .name('actlog')
  .description('A transparency log for per-action proofs of non-human identities.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

program
  .command('keygen')
  .description('create a key and print its verifier key (vkey)')
  .addOption(new Option('--kind <kind>', 'what the key is for').choices(KEY_KINDS).makeOptionMandatory())
  .requiredOption('--name <name>', "key name: the log's origin, the witness name, the issuer name, or the actor's identity")
  .requiredOption('--out <file>', 'where to write the private key (mode 0600)')
  .option('--force', 'replace an existing key file')
  .action((o: { kind: string; name: string; out: string; force?: boolean }) => {
    console.log(keygen(o))
  })

program
  .command('issue-credential')
  .description("sign a credential binding an actor (or a namespace, a subject ending in / or :) to its key")
  .requiredOption('--issuer-key <file>', "the issuer's key")
  .requiredOption('--subject <id>', 'the identity the credential is for (e.g. spiffe://acme.example/agents/payments), or a namespace whose key issues under it (spiffe://acme.example/agents/)')
  .option('--subject-key <file>', "the subject's key file (its public key is bound)")
  .option('--subject-vkey <vkey>', "the subject's verifier key, instead of its key file")
  .option('--chain <file>', "the issuer's own credential chain, when the issuer is a namespace key (not a trusted issuer)")
  .option('--not-before <time>', 'start of validity (RFC 3339 or ms); default: now')
  .option('--not-after <time>', 'end of validity (RFC 3339 or ms)')
  .option('--valid-for <duration>', 'validity when --not-after is not given', '90d')
  .requiredOption('--out <file>', 'where to write the credential chain')
  .action(async (o) => {
    const chain = await issueCredentialCommand(o)
    const c = chain[0]!
    console.log(`${c.issuer} vouches for ${c.subject} from ${new Date(c.notBefore).toISOString()} to ${new Date(c.notAfter).toISOString()}`)
    console.log(`wrote a chain of ${chain.length} credential(s) to ${o.out}`)
  })

program
  .command('serve')
  .description('run a log server')
  .requiredOption('--config <file>', 'the log configuration (JSON); see the README')
  .action(async (o: { config: string }) => {
    const log = await startLog(loadLogConfig(o.config), {
      log: (line) => console.error(line),
      onFatal: (err) => {
        console.error(`actlog: the log stopped: a storage write failed and the disk state is unknown (${String(err)}). Restart it: recovery reads back what is on disk.`)
        process.exit(70)
      },
    })
    console.log(`serving ${log.url}`)
    await stopOnSignal(() => log.close())
  })

program
  .command('witness')
  .description('run a witness (c2sp.org/tlog-witness) for the logs in its configuration')
  .requiredOption('--config <file>', 'the witness configuration (JSON); see the README')
  .action(async (o: { config: string }) => {
    const w = await startWitness(loadWitnessConfig(o.config), { log: (line) => console.error(line) })
    console.log(`serving ${w.url}`)
    await stopOnSignal(() => w.close())
  })

program
  .command('start')
  .description('run a local log and two witnesses on LevelDB under a data directory (creates keys and configs on the first run)')
  .option('--data <dir>', 'data directory', 'data')
  .option('--port <n>', 'port of the log; the witnesses take the next two', '8080')
  .action(async (o: { data: string; port: string }) => {
    const { runLocal } = await import('./start.ts')
    process.exitCode = await runLocal({ dataDir: o.data, port: Number(o.port) })
  })

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

program
  .command('submit')
  .description('sign an action statement, submit it to a log, and write its .tlog-proof')
  .requiredOption('--log <url>', 'the log URL')
  .requiredOption('--key <file>', "the actor's key (its name is the actor)")
  .requiredOption('--credentials <file>', "the actor's credential chain")
  .option('--file <action.json>', 'the action as JSON (action, target, tool, params, policy, delegation, approval)')
  .option('--action <name>', 'the operation, e.g. payments.transfer')
  .option('--target <uri>', 'the target resource')
  .option('--tool <path>', 'the approved tool and version, e.g. mcp://tools.acme.example/payments@1.4.2')
  .option('--params <hex>', 'SHA-256 (hex) of the exact request the tool received')
  .option('--params-file <file>', 'the request bytes; their SHA-256 is logged')
  .option('--policy <id@version>', 'the policy that decided, e.g. payments-limit@7')
  .option('--decision <decision>', 'the decision, e.g. allow')
  .option('--policy-ref <hex>', 'a reference to the decision record')
  .option('--on-behalf-of <principal=scope>', 'a delegation link, outermost first (repeatable)', collect)
  .option('--approved-by <who>', 'who approved the action')
  .option('--approval-ref <ref>', 'the approval record')
  .option('--instruction-file <file>', 'the prompt, trigger or ticket that caused the action; its SHA-256 is logged, never the text')
  .option('--out <file>', 'where to write the .tlog-proof (default: <index>.tlog-proof)')
  .option('--wait-witnessed', 'wait until a checkpoint meeting the witness quorum covers the entry')
  .action(async (o) => {
    const r = await submit(o)
    console.log(`logged at index ${r.index} (leaf ${r.leafHash})`)
    console.log(`proof written to ${r.file}`)
  })

program
  .command('demo')
  .description('create a demo organisation\'s agents and submit a realistic mix of actions')
  .requiredOption('--log <url>', 'the log URL')
  .requiredOption('--issuer-key <file>', 'an issuer key the log trusts')
  .option('--prefix <prefix>', 'subject prefix the log trusts the issuer for', 'spiffe://acme.example/')
  .option('--count <n>', 'how many actions to submit', '40')
  .option('--out <dir>', 'where to write agent keys, credentials and proofs', 'demo')
  .option('--concurrency <n>', 'submissions in flight', '8')
  .option('--wait-witnessed', 'wait for witnessed checkpoints')
  .action(async (o) => {
    const count = Number(o.count)
    if (!Number.isSafeInteger(count) || count < 1) throw new UsageError('--count must be a positive integer')
    const tty = process.stderr.isTTY
    const r = await runDemo({
      log: o.log,
      issuerKey: o.issuerKey,
      prefix: o.prefix,
      count,
      out: o.out,
      concurrency: Number(o.concurrency),
      waitWitnessed: o.waitWitnessed === true,
      onProgress: (done, total) => {
        if (tty) process.stderr.write(`\rsubmitted ${done}/${total}`)
      },
    })
    if (tty) process.stderr.write('\n')
    console.log(`submitted ${r.submitted} actions (indices ${r.firstIndex}..${r.lastIndex})`)
    for (const [actor, n] of Object.entries(r.byActor)) console.log(`  ${n.toString().padStart(5)}  ${actor}`)
    if (r.revoked !== undefined) console.log(`revoked ${r.revoked.subject} at index ${r.revoked.index}; its next action was refused: ${r.revoked.refused}`)
    console.log(`proofs in ${r.proofs}`)
  })

program
  .command('revoke')
  .description('revoke a (subject, key) pair: sign a revocation entry, submit it to the log, and write its .tlog-proof')
  .requiredOption('--log <url>', 'the log URL')
  .requiredOption('--subject <id>', 'the revoked subject (an identity, or a namespace ending in / or :)')
  .requiredOption('--key <vkey|file>', "the revoked key: its verifier key, or a key file")
  .requiredOption('--reason <text>', 'why, for people (1 to 1,024 bytes)')
  .option('--since <time>', 'earliest suspected compromise (RFC 3339 or ms): earlier actions at or after it are reported as suspect')
  .requiredOption('--signer-key <file>', "the revoker's key: the revoked key itself, a namespace key above it, or a trusted issuer key")
  .option('--chain <file>', "the revoker's credential chain (none for a trusted issuer key)")
  .option('--out <file>', 'where to write the .tlog-proof (default: <index>.tlog-proof)')
  .option('--wait-witnessed', 'wait until a checkpoint meeting the witness quorum covers the entry')
  .action(async (o) => {
    const r = await revoke(o)
    console.log(`revoked ${o.subject} from index ${r.index + 1} on: the revocation is logged at index ${r.index} (leaf ${r.leafHash})`)
    console.log(`proof written to ${r.file}`)
  })

program
  .command('verify')
  .description('verify a .tlog-proof offline against a trust policy and trusted issuers (exit 0 valid, 1 invalid, 2 usage)')
  .argument('<file.tlog-proof>', 'the proof file')
  .requiredOption('--policy <file>', 'tlog-policy file: the log key, witness keys and quorum to trust')
  .requiredOption('--issuers <file>', 'trusted-issuers file')
  .option('--json', 'print the verdict as JSON')
  .option('--now <time>', 'verify as of this time (RFC 3339 or ms), instead of the clock')
  .option('--revocations <dir>', "an audit's state directory: also check the chain against the revocations that audit saw, up to its checkpoint")
  .action(async (file: string, o) => {
    process.exitCode = await verifyCommand(file, o)
  })

program
  .command('proof')
  .description("fetch an entry's .tlog-proof from a log, verify it, and save it")
  .argument('<index>', 'the entry index')
  .requiredOption('--log <url>', 'the log URL')
  .requiredOption('--policy <file>', 'tlog-policy file to verify with')
  .requiredOption('--issuers <file>', 'trusted-issuers file to verify with')
  .option('--out <file>', 'where to save the proof (default: <index>.tlog-proof)')
  .option('--wait-witnessed', 'wait for a checkpoint meeting the witness quorum')
  .option('--json', 'print the verdict as JSON')
  .action(async (index: string, o) => {
    process.exitCode = await proofCommand(index, o)
  })

program
  .command('audit')
  .description('follow a log over its tiles, check it, and record every action per identity, with the checkpoint up to which the record is complete')
  .requiredOption('--log <url>', 'the log URL (only /checkpoint and /tile/ are read)')
  .requiredOption('--policy <file>', 'tlog-policy file: the log key, witness keys and quorum to trust')
  .requiredOption('--issuers <file>', 'trusted-issuers file')
  .requiredOption('--state <dir>', 'state directory: resumes from it, and holds records and reports')
  .option('--actor <id>', 'record only this identity')
  .option('--org <name>', 'record only identities vouched for by this organisation')
  .option('--since <time>', 'record only actions at or after this RFC 3339 time (every entry is still checked)')
  .option('--witness <url>', "also check the witness's own checkpoint of the log (repeatable)", collect)
  .option('--max-entries <n>', 'stop after this many entries (run again to continue)')
  .option('--follow <seconds>', 'keep following the log, checking every this many seconds')
  .option('--report <file.html>', 'also write a static HTML report (counts per organisation and identity, timelines, problems) after each pass')
  .action(async (o) => {
    process.exitCode = await auditCommand(o)
  })

program
  .command('mcp-gateway')
  .description("relay an agent's MCP client to an MCP server, deciding each tools/call by an allow-list policy and logging it before forwarding it")
  .requiredOption('--config <file>', 'the gateway configuration (JSON): log, identity, policy; see the README')
  .option('--upstream <url>', 'a Streamable HTTP MCP server to relay to, instead of a command')
  .argument('[command...]', 'after --: the command that starts a stdio MCP server')
  .action(async (command: string[], o: { config: string; upstream?: string }) => {
    // Loaded here: the MCP SDK is large, and no other command needs it.
    const { runMcpGateway } = await import('../mcp/index.ts')
    await runMcpGateway({ config: o.config, upstream: o.upstream, command })
  })

/** Waits for SIGINT or SIGTERM, then runs `stop` once. */
function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false
    const handler = (): void => {
      if (stopping) return
      stopping = true
      stop().then(resolve, (e) => {
        console.error(`actlog: error while stopping: ${String(e)}`)
        process.exit(1)
      })
    }
    process.once('SIGINT', handler)
    process.once('SIGTERM', handler)
  })
}

// Output piped into a program that stops reading (| head) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw e
  })
}

// Every command that checks signatures runs in Node: let it use Node's
// crypto behind core's Ed25519 rule, on worker threads (see ed25519-workers.ts).
usePlatformEd25519(ed25519Workers())
useSha256(nodeSha256)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  process.exitCode = report(err)
}

function report(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
  if (err instanceof UsageError || err instanceof TypeError) {
    console.error(`actlog: ${err.message}`)
    return 2
  }
  // The data directory cannot be used: the message says which, why, and what to do.
  if (err instanceof StoreOpenError || err instanceof StoreLockedError) {
    console.error(`actlog: ${err.message}`)
    return 1
  }
  if (err instanceof LogError) {
    console.error(`actlog: the log refused: ${err.code} (HTTP ${err.status}): ${err.message}`)
    return 1
  }
  if (isTlogError(err)) {
    console.error(`actlog: ${err.code}: ${err.message}`)
    return 1
  }
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('E')) {
    console.error(`actlog: ${err.message}`)
    return 1
  }
  console.error(err)
  return 1
}
