/**
 * Config schema of a route's `scopes:` (what the identity must be granted) and
 * `allow_groups:`/`deny_groups:` (which consumers may call it).
 */
import { Type, type Static, type TOptional } from '@sinclair/typebox'
import { Name, Pattern } from '../../config/fragments.js'
import { METHODS } from '../../router/methods.js'

/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` and `\`. */
export const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$'

const ScopeList = Type.Array(
  Pattern(SCOPE_PATTERN, 'must be a scope: printable ASCII characters without spaces, " or \\'),
  {
    uniqueItems: true,
    description: 'Every scope listed is required (exact, case-sensitive). [] requires none.',
  },
)

export const ScopesSchema = Type.Union(
  [
    ScopeList,
    Type.Object(
      {
        ...(Object.fromEntries(METHODS.map((m) => [m, Type.Optional(ScopeList)])) as Record<
          (typeof METHODS)[number],
          TOptional<typeof ScopeList>
        >),
        '*': Type.Optional(ScopeList),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
  ],
  {
    description:
      'Scopes required on this route: a list for every method, or per method ' +
      '({ GET: [read], POST: [write] }). HEAD follows GET unless listed. A method not listed ' +
      'takes the "*" entry; without "*" it is refused with 403.',
  },
)

export type ScopesConfig = Static<typeof ScopesSchema>

const GroupList = (description: string) =>
  Type.Array(Name(), { minItems: 1, uniqueItems: true, description })

export const AllowGroupsSchema = GroupList(
  'Only consumers (consumers:, the credential store) in at least one of these groups may call ' +
    'this route; a caller without a consumer is refused (403 forbidden). Unset: any group.',
)

export const DenyGroupsSchema = GroupList(
  'Consumers in any of these groups are refused (403 forbidden), even when allow_groups admits ' +
    'them. The answer names no group.',
)
