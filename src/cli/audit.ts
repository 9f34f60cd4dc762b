/**
 * `portcullis audit verify FILE [--key-env NAME]`: follows every HMAC chain of an audit file
 * (observability/audit-chain.ts) and names the first line that breaks one. Exit 0 when every
 * chain holds, 1 otherwise.
 */
import { readFileSync } from 'node:fs'
import { PortcullisError } from '../errors.js'
import { verifyChain } from '../observability/audit-chain.js'

/** Where the key is read when --key-env does not name another variable. */
export const AUDIT_KEY_ENV = 'PORTCULLIS_AUDIT_CHAIN_KEY'

export function runAuditCommand(argv: readonly string[]): number {
  const [sub, ...rest] = argv
  if (sub !== 'verify') usage(`unknown audit command "${sub ?? ''}"; use: audit verify FILE`)
  let file: string | null = null
  let keyEnv = AUDIT_KEY_ENV
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (arg === '--key-env') {
      const value = rest[++i]
      if (value === undefined || value === '') usage('--key-env needs a variable name')
      keyEnv = value
    } else if (arg.startsWith('-')) usage(`unknown option ${arg}`)
    else if (file === null) file = arg
    else usage(`one FILE only (got ${file} and ${arg})`)
  }
  if (file === null) usage('audit verify needs the FILE to check')
  const key = process.env[keyEnv]
  if (key === undefined || key === '')
    usage(`$${keyEnv} is not set: it must hold log.audit_chain_key`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new PortcullisError(
      'PCL_ERR_CLI_USAGE',
      `cannot read ${file}: ${(error as Error).message}`,
    )
  }
  const report = verifyChain(text, key)
  if (report.problem !== null) {
    process.stdout.write(`${file}: line ${report.problem.line}: ${report.problem.reason}\n`)
    return 1
  }
  process.stdout.write(
    `${file}: ${report.lines} lines in ${report.chains} chains, every chain holds\n`,
  )
  return 0
}

function usage(message: string): never {
  throw new PortcullisError('PCL_ERR_CLI_USAGE', message)
}
