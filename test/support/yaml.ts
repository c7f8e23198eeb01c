// The YAML of deploy/compose.yaml and deploy/compose.replicas.yaml, read for the tests that check
// those files (test/compose.test.ts, test/replicas.e2e.test.ts); its own test is in
// test/compose.test.ts.

export type Yaml = null | string | Yaml[] | { [key: string]: Yaml };

/**
 * The YAML the deploy/ files are written in, read without a YAML package (none is a dependency):
 * block mappings and sequences, plain and quoted scalars (all kept as text), `|` blocks, comments.
 * Anything else (flow collections, anchors, tags, tabs) is refused rather than misread.
 */
export function readYaml(text: string): Yaml {
  const raw = text.split('\n');
  const lines = raw
    .map((line, i) => ({ at: i + 1, text: stripComment(line) }))
    .filter((l) => l.text.trim() !== '')
    .map((l) => {
      if (/^\s*\t/.test(l.text)) throw new Error(`line ${l.at}: a tab in the indentation`);
      return { at: l.at, indent: l.text.length - l.text.trimStart().length, text: l.text.trim() };
    });
  let i = 0;
  const KEY = /^("[^"]*"|'[^']*'|[^\s"'#-][^:]*?):(?:\s+(.*))?$/;
  const block = (indent: number): Yaml => (lines[i]!.text.startsWith('- ') || lines[i]!.text === '-' ? sequence(indent) : mapping(indent));
  /** A `|` block after line `at` (1-based): the raw lines deeper than `indent`, their common indentation removed. */
  const literal = (at: number, indent: number): string => {
    const body: string[] = [];
    let n = at;
    for (; n < raw.length && (raw[n]!.trim() === '' || raw[n]!.length - raw[n]!.trimStart().length > indent); n++) body.push(raw[n]!);
    while (i < lines.length && lines[i]!.at <= n) i++;
    const cut = Math.min(...body.filter((b) => b.trim()).map((b) => b.length - b.trimStart().length));
    return `${body.map((b) => b.slice(cut)).join('\n').replace(/\n+$/, '')}\n`;
  };
  const mapping = (indent: number): Yaml => {
    const out: Record<string, Yaml> = {};
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith('-')) {
      const line = lines[i++]!;
      const m = KEY.exec(line.text);
      if (!m) throw new Error(`line ${line.at}: not "key: value": ${line.text}`);
      const key = scalar(m[1]!, line.at);
      if (Object.hasOwn(out, key)) throw new Error(`line ${line.at}: "${key}" twice`);
      const next = lines[i];
      if (m[2] === '|') out[key] = literal(line.at, indent);
      else if (m[2] !== undefined) out[key] = scalar(m[2], line.at);
      else if (next && (next.indent > indent || (next.indent === indent && next.text.startsWith('-')))) out[key] = block(next.indent);
      else out[key] = null;
    }
    if (i < lines.length && lines[i]!.indent > indent) throw new Error(`line ${lines[i]!.at}: unexpected indentation`);
    return out;
  };
  const sequence = (indent: number): Yaml => {
    const out: Yaml[] = [];
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('-')) {
      const line = lines[i]!;
      const rest = line.text.slice(1).trimStart();
      if (KEY.test(rest)) {
        // "- key: value": a mapping whose first line shares the dash's.
        lines[i] = { at: line.at, indent: indent + (line.text.length - rest.length), text: rest };
        out.push(mapping(lines[i]!.indent));
      } else {
        i++;
        if (rest === '|') out.push(literal(line.at, indent));
        else out.push(rest === '' ? block(lines[i]!.indent) : scalar(rest, line.at));
      }
    }
    return out;
  };
  const value = block(0);
  if (i !== lines.length) throw new Error(`line ${lines[i]!.at}: not read (indentation?)`);
  return value;
}

function scalar(text: string, at: number): string {
  if (/^"(?:[^"\\]|\\.)*"$/.test(text)) return JSON.parse(text) as string;
  if (/^'(?:[^']|'')*'$/.test(text)) return text.slice(1, -1).replaceAll("''", "'");
  if (/^[[{&*|>!%@`"']/.test(text)) throw new Error(`line ${at}: outside the YAML this test reads: ${text}`);
  return text;
}

/** A line without its comment: a # at its start or after a space, outside quotes. */
function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}
