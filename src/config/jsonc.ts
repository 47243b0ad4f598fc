/**
 * Removes `//` and `/* *\/` comments and trailing commas from JSON text so the
 * config file can carry comments. Strings are copied untouched (a `,}` or `//`
 * inside a string stays), and line breaks are kept so JSON.parse positions
 * still point at the right line.
 */
export function stripJsonComments (text: string): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    const next = text[i + 1]
    if (ch === '"') {
      const end = stringEnd(text, i)
      out += text.slice(i, end)
      i = end
    } else if (ch === '/' && next === '/') {
      i = lineCommentEnd(text, i)
    } else if (ch === '/' && next === '*') {
      const end = blockCommentEnd(text, i)
      // keep the comment's line breaks for error positions
      for (let j = i; j < end; j++) if (text[j] === '\n') out += '\n'
      i = end
    } else if (ch === ',' && closesNext(text, i + 1)) {
      i++ // a trailing comma before `}` or `]`
    } else {
      out += ch
      i++
    }
  }
  return out
}

/** Index just past the string starting at `start` (or the text's end if it is unterminated). */
function stringEnd (text: string, start: number): number {
  let i = start + 1
  while (i < text.length && text[i] !== '"') {
    i += text[i] === '\\' ? 2 : 1
  }
  return Math.min(i + 1, text.length)
}

function lineCommentEnd (text: string, start: number): number {
  const end = text.indexOf('\n', start)
  return end === -1 ? text.length : end
}

function blockCommentEnd (text: string, start: number): number {
  const end = text.indexOf('*/', start + 2)
  return end === -1 ? text.length : end + 2
}

/** Whether the next thing after `from`, past whitespace and comments, closes an object or array. */
function closesNext (text: string, from: number): boolean {
  let i = from
  while (i < text.length) {
    const ch = text[i]
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++
    } else if (ch === '/' && text[i + 1] === '/') {
      i = lineCommentEnd(text, i)
    } else if (ch === '/' && text[i + 1] === '*') {
      i = blockCommentEnd(text, i)
    } else {
      return ch === '}' || ch === ']'
    }
  }
  return false
}
