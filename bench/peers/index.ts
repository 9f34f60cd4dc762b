/** The peers `--peers` measures, in the order of the report's rows. */
import { fastify } from './fastify.js'
import { haproxy } from './haproxy.js'
import { nginx } from './nginx.js'
import { createPortcullisPeer, type PortcullisOptions } from './portcullis.js'
import type { Peer } from './types.js'

export function allPeers(portcullis: PortcullisOptions): readonly Peer[] {
  return [nginx, haproxy, fastify, createPortcullisPeer(portcullis)]
}
