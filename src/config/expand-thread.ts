/** The thread of expand-sync.ts: expands one config, answers on its port, then raises the flag. */
import { workerData } from 'node:worker_threads'
import { expandConfig } from './expand.js'
import type { ExpandAnswer, ExpandRequest } from './expand-sync.js'

const { config, file, flag, port } = workerData as ExpandRequest

let answer: ExpandAnswer
try {
  answer = { kind: 'expanded', expanded: await expandConfig(config, file) }
} catch (error) {
  answer = { kind: 'failed', stack: (error as Error).stack ?? String(error) }
}
port.postMessage(answer)
const signal = new Int32Array(flag)
Atomics.store(signal, 0, 1)
Atomics.notify(signal, 0)
