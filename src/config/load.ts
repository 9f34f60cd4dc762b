/**
 * Reads a config file: read → parse → interpolate `${ENV}` → validate and fill defaults.
 *
 * YAML is parsed as YAML 1.2 with the core schema, so `on`, `yes` and `no` stay strings, and
 * anything the parser only warns about (an unknown `!tag`, a duplicate key, a key that is a list)
 * is an error: a gateway config must mean exactly what it says. `.json` files go through
 * JSON.parse for JSON's own error messages, and are then checked for duplicate keys, which
 * JSON.parse would silently resolve to the last one.
 */
import { readFileSync } from 'node:fs'
import { LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml'
import type { Static, TSchema } from '@sinclair/typebox'
import { PortcullisError, type ConfigProblem } from '../errors.js'
import { interpolateEnv } from './interpolate.js'
import { createValidator } from './validate.js'

/** Reads and parses `file` (YAML, or JSON if it ends in `.json`); no interpolation, no checks. */
export function readConfigFile(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const failure = new PortcullisError(
      'PCL_ERR_CONFIG_READ',
      `cannot read config file ${JSON.stringify(file)}: ${errnoReason(error)}`,
    )
    failure.cause = error
    throw failure
  }
  // Editors on Windows may save a byte order mark; it is not part of the document.
  if (text.startsWith('\uFEFF')) text = text.slice(1)
  return /\.json$/i.test(file) ? parseJson(text, file) : parseYaml(text, file)
}

/** Reads `file`, replaces `${ENV}` references from `env`, validates against `schema`. */
export function loadConfig<T extends TSchema>(
  file: string,
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): Static<T> {
  return validateConfig(interpolateEnv(readConfigFile(file), env), schema)
}

/** Validates parsed, interpolated `data` against `schema`; fills defaults into a copy. */
export function validateConfig<T extends TSchema>(data: unknown, schema: T): Static<T> {
  return validatorFor(schema)(data)
}

// Reloads validate against the same schema object: compile it once.
const validators = new WeakMap<TSchema, (data: unknown) => unknown>()

function validatorFor<T extends TSchema>(schema: T): (data: unknown) => Static<T> {
  let validate = validators.get(schema)
  if (validate === undefined) {
    validate = createValidator(schema)
    validators.set(schema, validate)
  }
  return validate as (data: unknown) => Static<T>
}

/** `ENOENT: no such file or directory, open 'x'` → `no such file or directory (ENOENT)`. */
function errnoReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = (error as NodeJS.ErrnoException).code
  const description = /^[A-Z0-9_]+: ([^,]+),/.exec(error.message)?.[1]
  if (code === undefined) return error.message
  return description === undefined ? code : `${description} (${code})`
}

function parseError(file: string, problems: readonly ConfigProblem[]): PortcullisError {
  return new PortcullisError(
    'PCL_ERR_CONFIG_PARSE',
    `cannot parse config file ${JSON.stringify(file)}`,
    problems,
  )
}

function at(line: number, col: number): string {
  return `line ${line}, column ${col}`
}

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

function parseDocumentStrictly(text: string, lineCounter: LineCounter): Document.Parsed {
  return parseDocument(text, {
    version: '1.2',
    schema: 'core',
    uniqueKeys: true,
    // Keys are the names of config fields: a list or map as a key is a mistake, not a feature.
    stringKeys: true,
    merge: false,
    prettyErrors: false,
    lineCounter,
    // Nothing goes to the console: every finding is reported by us. Not 'silent', which would
    // also drop the error for a file with several documents.
    logLevel: 'error',
  })
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter()
  const doc = parseDocumentStrictly(text, lineCounter)
  const findings: YAMLError[] = [...doc.errors, ...doc.warnings]
  const problems = findings.map((finding) => {
    const { line, col } = lineCounter.linePos(finding.pos[0])
    return { path: at(line, col), reason: finding.message }
  })
  // An alias to an anchor that is not defined above it only fails when converted: find it first.
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) === undefined) {
        const { line, col } = lineCounter.linePos(alias.range?.[0] ?? 0)
        problems.push({
          path: at(line, col),
          reason: `alias *${alias.source} has no anchor &${alias.source} before it`,
        })
      }
    },
  })
  if (problems.length > 0) throw parseError(file, problems)
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (error) {
    // Too many aliases (a "billion laughs" document) is the remaining way to fail here.
    throw parseError(file, [
      { path: '', reason: error instanceof Error ? error.message : String(error) },
    ])
  }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

function parseJson(text: string, file: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    const { line, col } = linePos(text, jsonErrorOffset(text))
    throw parseError(file, [{ path: at(line, col), reason: jsonReason(error) }])
  }
  // Valid JSON is valid YAML 1.2, and the YAML parser knows where every key is.
  const lineCounter = new LineCounter()
  const duplicates = parseDocumentStrictly(text, lineCounter).errors.filter(
    (e) => e.code === 'DUPLICATE_KEY',
  )
  if (duplicates.length > 0) {
    throw parseError(
      file,
      duplicates.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0])
        return { path: at(line, col), reason: e.message }
      }),
    )
  }
  return value
}

/** V8's message without the parts that vary by Node version (position, echo of the input). */
function jsonReason(error: unknown): string {
  if (!(error instanceof Error)) return 'invalid JSON'
  return error.message
    .replace(/ (?:in JSON )?at position \d+.*$/s, '')
    .replace(/, (?:\.\.\.)?".*is not valid JSON$/s, '')
}

function linePos(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset)
  const lineStart = before.lastIndexOf('\n') + 1
  return { line: before.split('\n').length, col: offset - lineStart + 1 }
}

const JSON_NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

/**
 * Where JSON.parse gave up. Node 20's messages do not always carry a position (`Unexpected token
 * '}', "{"a": }" is not valid JSON`), so the text is scanned again by this small recognizer.
 */
function jsonErrorOffset(text: string): number {
  let i = 0
  const fail = (): never => {
    throw new JsonSyntaxAt(i)
  }
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const expect = (char: string): void => {
    if (text[i] !== char) fail()
    i++
  }
  const string = (): void => {
    expect('"')
    for (;;) {
      const c = text[i]
      if (c === undefined || c < ' ') fail()
      if (c === '"') {
        i++
        return
      }
      if (c === '\\') {
        i++
        const escape = text[i]
        if (escape === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i += k
              fail()
            }
          }
          i += 5
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i++
        else fail()
      } else i++
    }
  }
  const value = (): void => {
    space()
    const c = text[i]
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']'
      i++
      space()
      if (text[i] === close) {
        i++
        return
      }
      for (;;) {
        if (c === '{') {
          space()
          string()
          space()
          expect(':')
        }
        value()
        space()
        if (text[i] === ',') i++
        else return expect(close)
      }
    }
    if (c === '"') return string()
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length
        return
      }
    }
    JSON_NUMBER_RE.lastIndex = i
    if (!JSON_NUMBER_RE.test(text)) fail()
    i = JSON_NUMBER_RE.lastIndex
  }
  try {
    value()
    space()
    if (i < text.length) fail()
  } catch (error) {
    if (error instanceof JsonSyntaxAt) return error.offset
    throw error
  }
  // JSON.parse failed but the scan did not: point at the start rather than guess.
  return 0
}

class JsonSyntaxAt extends Error {
  constructor(readonly offset: number) {
    super(`JSON syntax error at offset ${offset}`)
  }
}
