import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import ts from "typescript"

/**
 * Checks JSON values against a TypeScript type that a schema package generates (Grafana's
 * Dashboard, Kubernetes' objects): each value is written into a module as an object literal
 * of that type and compiled. A wrong type, an unknown or misspelt key (the excess property
 * check) or a value outside an enumeration is a compile error. String enumerations are
 * compared by their values, as JSON has no enum types.
 */

const dir = fileURLToPath(new URL("../.schema-check/", import.meta.url))

/** Removes the generated modules (call from afterAll). */
export const cleanTypeChecks = (): void => rmSync(dir, { recursive: true, force: true })

export interface TypedValue {
  /** A name for the module, unique within the call. */
  readonly name: string
  /** `import type { X } from "module"`: the module and the type. */
  readonly module: string
  readonly type: string
  readonly value: unknown
}

/** The compiler's diagnostics for each value against its type, as `name: message`. */
export const typeCheck = (values: ReadonlyArray<TypedValue>): ReadonlyArray<string> => {
  mkdirSync(dir, { recursive: true })
  const files = values.map(({ name, module, type, value }) => {
    const file = `${dir}${name}.ts`
    writeFileSync(
      file,
      `import type { ${type} as Schema } from ${JSON.stringify(module)}
type Json<T> = T extends string ? \`\${T}\` : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer E> ? ReadonlyArray<Json<E>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T
export const value: Json<Schema> = ${JSON.stringify(value, null, 2)}
`,
    )
    return file
  })
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  })
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const name = d.file?.fileName.slice(dir.length).replace(/\.ts$/, "") ?? "?"
    const line =
      d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0
    return `${name}:${line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
  })
}
