/**
 * On-demand installs for the peers: Debian packages through apt-get (nginx-light, haproxy, wrk)
 * and the Node peer's own package.json (`npm install --prefix bench/peers`). Nothing is installed
 * that is already there, and a failure is returned as a reason, so the run goes on without that
 * peer and says why.
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

const INSTALL_TIMEOUT_MS = 300_000
/** Where Debian puts daemons: not on every user's PATH. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

/** Absolute path of `binary` on PATH or in the sbin directories, or undefined. */
export function findBinary(binary: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...SBIN]
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, binary)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not in this one.
    }
  }
  return undefined
}

function tail(text: string, lines = 4): string {
  return text.trim().split('\n').slice(-lines).join(' | ')
}

let aptUpdated = false

function aptGet(args: readonly string[]): { ok: boolean; output: string } {
  const result = spawnSync('apt-get', [...args], {
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
    // RUNLEVEL=1: the package's init script must not start a service of its own (nginx's default
    // site on port 80); the bench starts what it measures itself.
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' },
  })
  if (result.error !== undefined) return { ok: false, output: result.error.message }
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` }
}

/**
 * `binary`'s absolute path, installing Debian package `pkg` first when it is missing. Throws with
 * the reason when it is missing and cannot be installed.
 */
export function ensureDebianBinary(binary: string, pkg: string, log: (m: string) => void): string {
  const found = findBinary(binary)
  if (found !== undefined) return found
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${binary} is not installed and the bench is not root (apt-get install -y ${pkg})`,
    )
  }
  if (findBinary('apt-get') === undefined) {
    throw new Error(`${binary} is not installed and there is no apt-get to install ${pkg}`)
  }
  log(`${binary} missing: apt-get install -y ${pkg}`)
  let attempt = aptGet(['install', '-y', '--no-install-recommends', pkg])
  if (!attempt.ok && !aptUpdated) {
    // A fresh machine's package lists may be empty or stale.
    aptUpdated = true
    log('apt-get install failed; apt-get update, then once more')
    aptGet(['update'])
    attempt = aptGet(['install', '-y', '--no-install-recommends', pkg])
  }
  const installed = findBinary(binary)
  if (!attempt.ok || installed === undefined) {
    throw new Error(`apt-get install -y ${pkg} failed: ${tail(attempt.output)}`)
  }
  return installed
}

/** The Node peer's packages (bench/peers/package.json): installed from its lock when missing. */
export function ensureNodePeers(root: string, log: (m: string) => void): void {
  const dir = join(root, 'bench/peers')
  const needed = ['fastify', '@fastify/http-proxy', '@fastify/jwt']
  const missing = needed.filter(
    (name) => !existsSync(join(dir, 'node_modules', name, 'package.json')),
  )
  if (missing.length === 0) return
  log(`bench/peers: ${missing.join(', ')} missing: npm install --prefix bench/peers`)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(
    npm,
    ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel', 'error'],
    { cwd: root, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS },
  )
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `npm install --prefix bench/peers failed: ${tail(result.error?.message ?? `${result.stdout}${result.stderr}`)}`,
    )
  }
}

/** One line of a command's version output (stdout or stderr), or `unknown`. */
export function versionLine(command: string, args: readonly string[], pattern: RegExp): string {
  const result = spawnSync(command, [...args], { encoding: 'utf8' })
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`
  return pattern.exec(text)?.[0] ?? 'unknown'
}
