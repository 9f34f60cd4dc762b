/**
 * Certificates made at run time with the `openssl` command line (no private key is committed):
 * CAs (root or intermediate), server and client certificates, expired or not yet valid ones, and
 * CRLs. Everything lives in one temp dir per {@link Pki}; `cleanup()` removes it. The tests and
 * the bench's TLS scenarios (bench/scenarios/tls.ts) both make theirs here.
 *
 * @example
 *   const pki = createPki()
 *   const ca = pki.ca('Test CA')
 *   const server = pki.issue(ca, { cn: 'api.test', dns: ['api.test', '*.api.test'] })
 *   const client = pki.issue(ca, { cn: 'payments', uris: ['spiffe://test/payments'], client: true })
 *   const crl = pki.crl(ca, [client])
 */
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A certificate and its key, as files and as PEM text. */
export interface Issued {
  readonly name: string
  readonly certFile: string
  readonly keyFile: string
  readonly cert: string
  readonly key: string
  /** The leaf followed by the intermediates above it (not the root): what a server presents. */
  readonly chainFile: string
  readonly chain: string
  /** SHA-256 of the DER certificate, lowercase hex without colons. */
  readonly sha256: string
}

export interface Authority extends Issued {
  /** The CA's own openssl `ca` database dir. */
  readonly dir: string
  /** null for a root. */
  readonly parent: Authority | null
}

export interface IssueOptions {
  /** Subject CN; omitted: a subject with only O=portcullis-test. */
  readonly cn?: string
  /** SAN entries. */
  readonly dns?: readonly string[]
  readonly uris?: readonly string[]
  readonly ips?: readonly string[]
  /** clientAuth usage instead of serverAuth. */
  readonly client?: boolean
  /** Validity from now; negative values move the window into the past. Default: -1 h … +30 d. */
  readonly notBeforeSeconds?: number
  readonly notAfterSeconds?: number
  /** Key type; 'ec' (P-256) is the default since it is made in milliseconds. */
  readonly keyType?: 'ec' | 'rsa'
  /** Encrypts the key file with this passphrase. */
  readonly passphrase?: string
}

export interface Pki {
  readonly dir: string
  /** A self-signed root CA. */
  ca(cn?: string, options?: { keyType?: 'ec' | 'rsa' }): Authority
  /** An intermediate CA signed by `parent`. */
  intermediate(parent: Authority, cn?: string): Authority
  issue(ca: Authority, options: IssueOptions): Issued
  /** Revokes `revoked` (if any) and writes the CA's CRL; returns its file. */
  crl(ca: Authority, revoked?: readonly Issued[]): string
  /** Writes `text` to a new file of the temp dir (a bundle, a broken PEM) and returns its path. */
  file(name: string, text: string): string
  cleanup(): void
}

const HOUR = 3600
const DAY = 86_400

/** `dir`: an existing directory to fill (the caller removes it); default a new temp dir. */
export function createPki(dir?: string): Pki {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'portcullis-pki-'))
  let counter = 0
  const unique = (prefix: string) => `${prefix}-${++counter}`

  const openssl = (args: readonly string[], cwd = root): string =>
    execFileSync('openssl', [...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  const newKey = (file: string, keyType: 'ec' | 'rsa', passphrase?: string) => {
    const algorithm =
      keyType === 'ec'
        ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
        : ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
    const cipher = passphrase === undefined ? [] : ['-aes-128-cbc', '-pass', `pass:${passphrase}`]
    openssl(['genpkey', ...algorithm, ...cipher, '-out', file])
  }

  const makeCaDir = (name: string): string => {
    const dir = join(root, name)
    mkdirSync(join(dir, 'newcerts'), { recursive: true })
    writeFileSync(join(dir, 'index.txt'), '')
    writeFileSync(join(dir, 'serial'), `${(1000 + counter * 100).toString(16).padStart(4, '0')}\n`)
    writeFileSync(join(dir, 'crlnumber'), '01\n')
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = local',
        '[ local ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'serial = $dir/serial',
        'crlnumber = $dir/crlnumber',
        'certificate = $dir/ca.pem',
        'private_key = $dir/ca.key',
        'default_md = sha256',
        'default_crl_days = 7',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[ any ]',
        'organizationName = optional',
        'commonName = optional',
        '',
      ].join('\n'),
    )
    return dir
  }

  const stamp = (offsetSeconds: number): string => {
    // openssl ca's -startdate/-enddate: YYYYMMDDHHMMSSZ.
    const d = new Date(Date.now() + offsetSeconds * 1000)
    return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
  }

  const sign = (
    ca: Authority,
    csr: string,
    out: string,
    extensions: string,
    notBefore: number,
    notAfter: number,
  ) => {
    const extFile = `${out}.ext`
    writeFileSync(extFile, `[ ext ]\n${extensions}\n`)
    openssl([
      'ca',
      '-batch',
      '-notext',
      '-preserveDN',
      '-config',
      join(ca.dir, 'ca.cnf'),
      '-in',
      csr,
      '-out',
      out,
      '-startdate',
      stamp(notBefore),
      '-enddate',
      stamp(notAfter),
      '-extfile',
      extFile,
      '-extensions',
      'ext',
    ])
  }

  const issuedFrom = (
    name: string,
    certFile: string,
    keyFile: string,
    above: Authority | null,
  ): Issued => {
    const cert = readFileSync(certFile, 'utf8')
    // Intermediates above, not the root: a server presents those, the client has the root.
    let chain = cert
    for (let ca: Authority | null = above; ca !== null && ca.parent !== null; ca = ca.parent) {
      chain += ca.cert
    }
    const chainFile = join(root, `${name}.chain.pem`)
    writeFileSync(chainFile, chain)
    return {
      name,
      certFile,
      keyFile,
      cert,
      key: readFileSync(keyFile, 'utf8'),
      chainFile,
      chain,
      sha256: new X509Certificate(cert).fingerprint256.replaceAll(':', '').toLowerCase(),
    }
  }

  const subjectOf = (cn: string | undefined) =>
    cn === undefined ? '/O=portcullis-test' : `/O=portcullis-test/CN=${cn}`

  const pki: Pki = {
    dir: root,
    ca(cn = 'portcullis test CA', options = {}) {
      const name = unique('ca')
      const dir = makeCaDir(name)
      const keyFile = join(dir, 'ca.key')
      const certFile = join(dir, 'ca.pem')
      newKey(keyFile, options.keyType ?? 'ec')
      openssl([
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-subj',
        subjectOf(cn),
        '-days',
        '365',
        '-addext',
        'basicConstraints=critical,CA:true',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        certFile,
      ])
      return { ...issuedFrom(name, certFile, keyFile, null), dir, parent: null }
    },
    intermediate(parent, cn = 'portcullis test intermediate') {
      const name = unique('ica')
      const dir = makeCaDir(name)
      const keyFile = join(dir, 'ca.key')
      const certFile = join(dir, 'ca.pem')
      const csr = join(dir, 'ca.csr')
      newKey(keyFile, 'ec')
      openssl(['req', '-new', '-key', keyFile, '-subj', subjectOf(cn), '-out', csr])
      sign(
        parent,
        csr,
        certFile,
        'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign',
        -HOUR,
        365 * DAY,
      )
      const authority: Authority = {
        ...issuedFrom(name, certFile, keyFile, parent),
        dir,
        parent,
      }
      return authority
    },
    issue(ca, options) {
      const name = unique(options.client === true ? 'client' : 'server')
      const keyFile = join(root, `${name}.key`)
      const certFile = join(root, `${name}.pem`)
      const csr = join(root, `${name}.csr`)
      newKey(keyFile, options.keyType ?? 'ec', options.passphrase)
      const pass = options.passphrase === undefined ? [] : ['-passin', `pass:${options.passphrase}`]
      openssl([
        'req',
        '-new',
        '-key',
        keyFile,
        ...pass,
        '-subj',
        subjectOf(options.cn),
        '-out',
        csr,
      ])
      const san = [
        ...(options.dns ?? []).map((d) => `DNS:${d}`),
        ...(options.uris ?? []).map((u) => `URI:${u}`),
        ...(options.ips ?? []).map((ip) => `IP:${ip}`),
      ]
      const extensions = [
        'basicConstraints=critical,CA:false',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${options.client === true ? 'clientAuth' : 'serverAuth'}`,
        ...(san.length === 0 ? [] : [`subjectAltName=${san.join(',')}`]),
      ].join('\n')
      sign(
        ca,
        csr,
        certFile,
        extensions,
        options.notBeforeSeconds ?? -HOUR,
        options.notAfterSeconds ?? 30 * DAY,
      )
      return issuedFrom(name, certFile, keyFile, ca)
    },
    crl(ca, revoked = []) {
      const config = join(ca.dir, 'ca.cnf')
      for (const one of revoked) {
        try {
          openssl(['ca', '-config', config, '-revoke', one.certFile])
        } catch (error) {
          // Revoking twice (a second CRL of the same CA) is not an error here.
          if (!String((error as { stderr?: string }).stderr).includes('Already revoked'))
            throw error
        }
      }
      const out = join(root, `${unique('crl')}.pem`)
      openssl(['ca', '-config', config, '-gencrl', '-out', out])
      return out
    },
    file(name, text) {
      const out = join(root, name)
      writeFileSync(out, text)
      return out
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true })
    },
  }
  return pki
}
