// The signature suite again with --verifier node: node:crypto must give the same verdicts on
// every case, since it is what runs where src/native is not built (and for PS*, EdDSA, HS*).
process.env['PORTCULLIS_VERIFIER'] = 'node'

const { describeVerifier } = await import('../../../src/jwt/native-verify.js')
if (!describeVerifier().startsWith('node:crypto')) {
  throw new Error(`expected node:crypto, got ${describeVerifier()}`)
}
await import('./signature.test.js')
