import { passthrough } from './passthrough.js'
import type { Scenario } from './types.js'

/** Every scenario `--scenario` accepts. A new scenario is one file plus one line here. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map([[passthrough.name, passthrough]])
