/**
 * Text tables that fit the terminal: every table the CLI prints goes through `fitTable`.
 *
 * A table wider than its width budget is narrowed in three steps: (1) columns the caller marked droppable are
 * hidden, least important first, while the rest would not fit at a comfortable width (text columns at least
 * 24 characters or their natural width), and a footnote names them; (2) text columns wrap onto continuation
 * lines (at spaces, commas, `|`, `/` and `;`, or hard-cut when a word is longer than the column), the widest
 * column first, down to 8 characters; headers wrap at spaces; (3) if that is still too wide, the remaining
 * non-key columns are hidden from the right. Numeric columns never wrap (a number split over two lines
 * misreads), and the first column (the row's key: op, case, backend) always stays. Columns marked `elide` are
 * cut to their width with "…" instead of wrapping (long, low-value text such as descriptions). A newline in a
 * cell starts a continuation line at any width. `Infinity` prints the table unchanged (`--wide`).
 */

export interface ColumnSpec {
  readonly title: string;
  /** Hidden when the table does not fit, in increasing order (1 goes first); undefined: kept while possible. */
  readonly drop?: number;
  /** Cut long cells with "…" instead of wrapping them onto continuation lines. */
  readonly elide?: boolean;
}

export type Column = string | ColumnSpec;

export interface FitOptions {
  /** Width budget in characters; default `outputWidth()`; Infinity: no limit. */
  readonly width?: number;
}

const SEP = '  ';
/** A text column is never squeezed below this (or its natural width, when narrower). */
const MIN_TEXT = 8;
/** Droppable columns go before any text column is squeezed below this (or its natural width). */
const COMFORT_TEXT = 24;
/** The key column keeps at least this much before wrapping. */
const MIN_KEY = 16;
const NUMERIC = /^(?:[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?(?:x|%| ms| µs| ns| s)?|-|\(incl\.\)|n\/a)$/i;

/**
 * The width tables should fit on `stream`: its columns when it is a terminal wider than 80, else 80 (piped
 * output goes to files, pagers and logs, where 80 is the safe assumption).
 */
export function outputWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  return stream.isTTY && stream.columns && stream.columns > 80 ? stream.columns : 80;
}

const spec = (c: Column): ColumnSpec => (typeof c === 'string' ? { title: c } : c);

/** Splits `s` into lines of at most `w` characters, at its newlines and after separators where possible. */
export function wrapText(s: string, w: number): string[] {
  if (s.includes('\n')) return s.split('\n').flatMap((line) => wrapText(line, w));
  if (s.length <= w) return [s];
  const out: string[] = [];
  let rest = s;
  while (rest.length > w) {
    // The last space within the first w characters (dropped), else the last separator (kept on the line).
    let cut = -1;
    for (let i = Math.min(w, rest.length - 1); i > 0 && cut < 0; i--) if (rest[i] === ' ') cut = i;
    for (let i = Math.min(w, rest.length - 1); i > 0 && cut < 0; i--) if (',|/;'.includes(rest[i - 1]!)) cut = i;
    if (cut <= 0) cut = w;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest) out.push(rest);
  return out;
}

/** Free text (notes under a table) wrapped to `width`; unchanged for an infinite width. */
export function wrapParagraph(s: string, width: number = outputWidth()): string {
  return Number.isFinite(width) ? wrapText(s, width).join('\n') : s;
}

/** `s` cut to `w` characters with a trailing "…" when it is longer. */
export function elide(s: string, w: number): string {
  return s.length <= w ? s : `${s.slice(0, Math.max(0, w - 1))}…`;
}

interface Col {
  readonly index: number;
  readonly spec: ColumnSpec;
  readonly natural: number;
  readonly floor: number;
  readonly comfort: number;
  width: number;
}

/** The table laid out within `options.width` (see the file comment); rows may be shorter than the header. */
export function fitTable(columns: readonly Column[], rows: readonly (readonly string[])[], options: FitOptions = {}): string {
  const budget = options.width ?? outputWidth();
  const specs = columns.map(spec);
  const cell = (r: readonly string[], i: number) => r[i] ?? '';
  const all: Col[] = specs.map((s, i) => {
    const cells = rows.map((r) => cell(r, i));
    const lens = cells.flatMap((c) => c.split('\n').map((l) => l.length));
    const natural = Math.max(s.title.length, ...lens);
    const numeric = cells.every((c) => NUMERIC.test(c));
    const headWord = Math.max(...s.title.split(' ').map((w) => w.length));
    const floor = numeric ? Math.max(headWord, ...lens) : Math.max(headWord, Math.min(natural, i === 0 ? MIN_KEY : MIN_TEXT));
    const comfort = numeric ? floor : Math.max(floor, Math.min(natural, COMFORT_TEXT));
    return { index: i, spec: s, natural, floor, comfort, width: natural };
  });
  let shown = [...all];
  const total = (cols: readonly Col[], key: 'width' | 'floor' | 'comfort') => cols.reduce((a, c) => a + c[key], 0) + SEP.length * (cols.length - 1);
  const hidden: string[] = [];
  const hide = (victim: Col) => {
    shown = shown.filter((c) => c !== victim);
    hidden.push(victim.spec.title);
  };
  // Droppable columns, least important first, while the rest would be cramped.
  for (;;) {
    if (total(shown, 'comfort') <= budget) break;
    const droppable = shown.filter((c) => c.spec.drop !== undefined).sort((a, b) => a.spec.drop! - b.spec.drop! || b.index - a.index);
    if (droppable.length === 0) break;
    hide(droppable[0]!);
  }
  // Still too wide at the hard floors: the rightmost columns other than the key.
  while (total(shown, 'floor') > budget && shown.length > 1) hide(shown.at(-1)!);
  // Narrow the widest squeezable column one character at a time until the table fits: first no column below
  // its comfortable width, then down to the hard floors.
  for (const limit of ['comfort', 'floor'] as const) {
    while (total(shown, 'width') > budget) {
      let widest: Col | undefined;
      for (const c of shown) if (c.width > c[limit] && (!widest || c.width > widest.width)) widest = c;
      if (!widest) break;
      widest.width--;
    }
  }
  const lines: string[] = [];
  const emit = (cells: readonly string[][]) => {
    const height = Math.max(...cells.map((c) => c.length));
    for (let k = 0; k < height; k++) lines.push(shown.map((c, j) => (cells[j]![k] ?? '').padEnd(c.width)).join(SEP).trimEnd());
  };
  emit(shown.map((c) => wrapText(c.spec.title, c.width)));
  lines.push(shown.map((c) => '-'.repeat(c.width)).join(SEP));
  for (const r of rows) emit(shown.map((c) => (c.spec.elide ? [elide(cell(r, c.index), c.width)] : wrapText(cell(r, c.index), c.width))));
  if (hidden.length) lines.push(...wrapText(`(${hidden.length === 1 ? 'column' : 'columns'} hidden to fit ${budget} characters: ${hidden.join(', ')}; --wide shows all)`, budget));
  return lines.join('\n');
}
