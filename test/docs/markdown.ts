/**
 * What the documentation tests read in a Markdown file: its fenced code blocks, each with the marker
 * comment on the line before its fence, and its pipe tables, each under its nearest heading.
 */

/** `<!-- file: path -->`, `<!-- file: path#region -->` or `<!-- run -->` on the line before a fence. */
export type Marker =
  | { readonly kind: 'file'; readonly path: string; readonly region?: string }
  | { readonly kind: 'run' };

export interface Block {
  /** The Markdown file, relative to the repository root. */
  readonly doc: string;
  /** The opening fence's line, 1-based. */
  readonly line: number;
  /** The info string's first word, lower-cased: `ts`, `sh`, `json`… (`''` for none). */
  readonly lang: string;
  readonly marker: Marker | undefined;
  /** The lines between the fences, without the fence's own indentation, joined by `\n`. */
  readonly body: string;
}

export interface TableRow {
  readonly line: number;
  readonly cells: readonly string[];
}

export interface Table {
  readonly doc: string;
  readonly line: number;
  /** The text of the nearest heading above the table (`''` for none). */
  readonly heading: string;
  readonly header: readonly string[];
  readonly rows: readonly TableRow[];
}

const fenceOpen = /^( *)(`{3,}|~{3,})\s*([^`\s]*)/;
const markerComment = /^<!--\s*(?:file:\s*([^\s#]+)(?:#(\S+))?|(run))\s*-->$/;

function markerOf(line: string | undefined): Marker | undefined {
  const match = markerComment.exec(line?.trim() ?? '');
  if (match === null) return undefined;
  const [, path, region, run] = match;
  if (run !== undefined) return { kind: 'run' };
  return region === undefined ? { kind: 'file', path: path as string } : { kind: 'file', path: path as string, region };
}

/** Every fenced code block of `text`, in order. An unclosed fence runs to the end, as CommonMark reads it. */
export function fencedBlocks(doc: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = fenceOpen.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent = '', fence = '', info = ''] = open;
    const close = new RegExp(`^ *${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end] as string)) end++;
    const body = lines
      .slice(i + 1, end)
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()))
      .join('\n');
    blocks.push({ doc, line: i + 1, lang: info.toLowerCase(), marker: markerOf(lines[i - 1]), body });
    i = end;
  }
  return blocks;
}

/** A table row's cells, trimmed; `\|` is a pipe inside a cell. */
function cellsOf(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

const delimiterRow = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/** Every pipe table of `text` outside code blocks, with the heading it stands under. */
export function tables(doc: string, text: string): Table[] {
  const lines = text.split('\n');
  const inCode = new Set<number>();
  for (const block of fencedBlocks(doc, text)) {
    const bodyLines = block.body.split('\n').length;
    for (let line = block.line; line <= block.line + bodyLines + 1; line++) inCode.add(line);
  }
  const found: Table[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (inCode.has(i + 1)) continue;
    const title = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (title !== null) {
      heading = title[1] as string;
      continue;
    }
    const next = lines[i + 1];
    if (!line.includes('|') || next === undefined || !delimiterRow.test(next) || !next.includes('-')) continue;
    const rows: TableRow[] = [];
    let end = i + 2;
    while (end < lines.length && (lines[end] as string).includes('|') && (lines[end] as string).trim() !== '') {
      rows.push({ line: end + 1, cells: cellsOf(lines[end] as string) });
      end++;
    }
    found.push({ doc, line: i + 1, heading, header: cellsOf(line), rows });
    i = end - 1;
  }
  return found;
}
