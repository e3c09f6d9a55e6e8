/**
 * Where a refused settings field sits in the JSON editor's text, so the page can put the cursor on it.
 * A field is the agent's path as agent/src/config names it (`wg.listenPort`, `pmp.allow[0]`); the text is
 * the admin's JSON. A small recursive-descent walk records the position of each key (or array element)
 * by its full path; anything it cannot read gives null (the message still names the field).
 */
type Segment = string | number;
interface Span {
  start: number;
  end: number;
}

/** `pmp.allow[0]` -> ['pmp', 'allow', 0]; the root `config` -> []. */
export function fieldSegments(field: string): Segment[] {
  const out: Segment[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out[0] === 'config' ? out.slice(1) : out;
}

export function locateField(text: string, field: string): Span | null {
  const want = JSON.stringify(fieldSegments(field));
  if (want === '[]') return null;
  let i = 0;
  let found: Span | null = null;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const str = (): Span => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw new Error('unterminated string');
    i++;
    return { start: start + 1, end: i - 1 };
  };
  const value = (path: Segment[]): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      while (text[i] !== '}') {
        ws();
        const key = str();
        const keyPath = [...path, JSON.parse(`"${text.slice(key.start, key.end)}"`) as string];
        if (found === null && JSON.stringify(keyPath) === want) found = key;
        ws();
        if (text[i++] !== ':') throw new Error('expected :');
        value(keyPath);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') throw new Error('expected , or }');
        ws();
      }
      i++;
    } else if (c === '[') {
      i++;
      ws();
      for (let n = 0; text[i] !== ']'; n++) {
        ws();
        const start = i;
        value([...path, n]);
        if (found === null && JSON.stringify([...path, n]) === want) found = { start, end: i };
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ']') throw new Error('expected , or ]');
        ws();
      }
      i++;
    } else if (c === '"') {
      str();
    } else {
      const m = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
      if (m === null) throw new Error('unexpected token');
      i += m[0].length;
    }
  };
  try {
    value([]);
  } catch {
    return null;
  }
  return found;
}
