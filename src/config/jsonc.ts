/**
 * Removes `//` and `/* *\/` comments and trailing commas from JSON text so the
 * config file can carry comments. Strings are copied untouched, and line
 * breaks are kept so JSON.parse positions still point at the right line.
 */
export function stripJsonComments (text: string): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    const next = text[i + 1]
    if (ch === '"') {
      const start = i
      i++
      while (i < text.length && text[i] !== '"') {
        i += text[i] === '\\' ? 2 : 1
      }
      out += text.slice(start, i + 1)
      i++
    } else if (ch === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (ch === '/' && next === '*') {
      i += 2
      while (i < text.length && !(text[i] === '*' && text[i + 1] === '/')) {
        out += text[i] === '\n' ? '\n' : ''
        i++
      }
      i += 2
    } else {
      out += ch
      i++
    }
  }
  // a comma followed only by whitespace and a closing bracket
  return out.replace(/,(\s*[}\]])/g, '$1')
}

/** Line and column of a character offset, for parse error messages. */
export function lineAndColumn (text: string, offset: number): { line: number, column: number } {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - before.lastIndexOf('\n') }
}
