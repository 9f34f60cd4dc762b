/**
 * Headless Chromium (the Debian `chromium` package; .ci/run installs it) for the browser checks:
 * loads a page and returns its DOM once the page's scripts are done. No display is needed, and
 * each run has a profile of its own, removed afterwards.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome']

/** The Chromium binary: PCL_CHROMIUM, or the first of the usual names on the PATH. */
export function chromiumBinary(): string {
  const configured = process.env['PCL_CHROMIUM']
  if (configured !== undefined && configured !== '') return configured
  for (const name of CANDIDATES) {
    if (spawnSync('sh', ['-c', `command -v ${name}`]).status === 0) return name
  }
  throw new Error('no Chromium found: install it (apt-get install -y chromium) or set PCL_CHROMIUM')
}

/**
 * Loads `url` in a fresh headless Chromium and resolves with the DOM it ends with. The page's
 * clock is virtual (`--virtual-time-budget`): Chromium stops once the page has been idle that
 * long in page time, its fetches waited for. A run that outlives `timeoutMs` is killed.
 */
export function dumpDom(url: string, timeoutMs = 30_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'pcl-chromium-'))
  const child = spawn(
    chromiumBinary(),
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-extensions',
      '--no-first-run',
      '--no-default-browser-check',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=10000',
      '--dump-dom',
      url,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Chromium's helper processes share its process group: end them all.
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      reject(new Error(`chromium did not finish within ${timeoutMs} ms\n${stderr}`))
    }, timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      rmSync(profile, { recursive: true, force: true })
      if (code === 0) resolve(stdout)
      else reject(new Error(`chromium exited with ${code}\n${stderr}`))
    })
  })
}
