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

/** A new, frozen consumer: never the object of an earlier version, so memos by reference hold. */
export function createConsumer(fields: ConsumerFields, source: ConsumerSource): Consumer {
  const groups = Object.freeze([...fields.groups])
  return Object.freeze({
    name: fields.name,
    groups,
    groupSet: new Set(groups),
    tier: fields.tier ?? null,
    metadata: Object.freeze({ ...fields.metadata }),
    disabled: fields.disabled,
    source,
  })
}
