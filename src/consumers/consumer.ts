/**
 * A consumer: a known caller, from the config's `consumers:` or the credential store. Workers
 * hold these compiled; a change replaces the object, so a stage may memo by reference.
 */

export type ConsumerSource = 'config' | 'store'

export interface Consumer {
  readonly name: string
  readonly groups: readonly string[]
  readonly groupSet: ReadonlySet<string>
  readonly tier: string | null
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
  /** The config owns its consumers: the admin API refuses to change them. */
  readonly source: ConsumerSource
}

/** The fields a consumer is compiled from: a store record or a config entry. */
export interface ConsumerFields {
  readonly name: string
  readonly groups: readonly string[]
  readonly tier?: string | null | undefined
  readonly metadata: Readonly<Record<string, string>>
  readonly disabled: boolean
}

const NO_GROUPS: readonly string[] = Object.freeze([])
const NO_GROUP_SET: ReadonlySet<string> = new Set()
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({})

/** A new, frozen consumer: never the object of an earlier version, so memos by reference hold. */
export function createConsumer(fields: ConsumerFields, source: ConsumerSource): Consumer {
  // Most consumers have no groups or metadata: those share one empty value.
  const groups = fields.groups.length === 0 ? NO_GROUPS : Object.freeze([...fields.groups])
  const metadata = fields.metadata
  return Object.freeze({
    name: fields.name,
    groups,
    groupSet: groups.length === 0 ? NO_GROUP_SET : new Set(groups),
    tier: fields.tier ?? null,
    metadata: isEmpty(metadata) ? NO_METADATA : Object.freeze({ ...metadata }),
    disabled: fields.disabled,
    source,
  })
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return false
  return true
}
