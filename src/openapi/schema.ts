/**
 * Config schema of `openapi:`: OpenAPI 3.0 and 3.1 documents whose operations become routes
 * (import.ts), one per path and method, at load and on every reload.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Name, Pattern } from '../config/fragments.js'
import { AuthSchema, RouteApiKeySchema, RouteJwtSchema } from '../stages/authenticate/schema.js'

export const OpenApiImportSchema = Type.Object(
  {
    file: Type.String({
      minLength: 1,
      description:
        'The OpenAPI document (YAML or JSON), relative to the config file. Its $refs, to other ' +
        'files too, are resolved at load; URLs are not fetched.',
    }),
    upstream: Name({ description: 'Name of the entry of upstreams its routes forward to.' }),
    base_path: Pattern(
      '^(/[^?#\\s{}]*[^/?#\\s{}])?$',
      'must be empty or a path without a trailing "/"',
      {
        description: 'Prefix of every path of the document on the gateway (/v1). Forwarded as is.',
        default: '',
      },
    ),
    name_prefix: Type.Optional(
      Name({
        description:
          'Start of the name of every route made (then the operationId, or the method and path). ' +
          'Default: the upstream name and a dot.',
      }),
    ),
    auth: Type.Optional(
      Type.Union(AuthSchema.anyOf, {
        description:
          'How operations with a security requirement authenticate. Default: from their ' +
          'schemes (oauth2, openIdConnect and http bearer: jwt; apiKey: api_key; both: any). ' +
          'Operations whose security is empty are public (auth none).',
      }),
    ),
    jwt: Type.Optional(RouteJwtSchema),
    api_key: Type.Optional(RouteApiKeySchema),
    reject_duplicate_keys: Type.Boolean({
      description: 'validate.reject_duplicate_keys of every route made.',
      default: false,
    }),
  },
  { additionalProperties: false },
)

export const OpenApiImportsSchema = Type.Array(OpenApiImportSchema, {
  description:
    'OpenAPI documents turned into routes: one per path and method, with the JSON Schemas of its ' +
    'parameters and JSON body (validate:) and the scopes of its security requirement. What the ' +
    'gateway cannot enforce is listed as a warning by portcullis check and at load.',
  default: [],
})

export type OpenApiImportConfig = Static<typeof OpenApiImportSchema>
