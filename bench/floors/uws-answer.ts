/**
 * The uWS front alone: answers every request itself, no upstream. What receiving and answering a
 * client costs on this machine. Run through the bench like uws-undici.ts.
 */
import { loadNativeUws } from '../../src/front/load-uws.js'
import { floorArgs } from './args.js'

const { port } = floorArgs()
const { uws } = loadNativeUws()
const body = Buffer.from('{"ok":true}')

uws
  .App()
  .any('/*', (res) => {
    res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(body)
  })
  .listen('127.0.0.1', port, () => undefined)
