/**
 * Just enough SQL reading for span names: the operation (`SELECT`) and, when the
 * statement names exactly one table, the collection (`users`). Never looks at values.
 */

/** What a statement is about. */
export interface StatementSummary {
  /** `db.operation.name`: the first keyword, upper case (`SELECT`, `INSERT`, `BEGIN`). */
  operation?: string;
  /** `db.collection.name`: the one table the statement names, if it names exactly one. */
  collection?: string;
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QUALIFIED = String.raw`(${IDENT}(?:\s*\.\s*${IDENT})?)`;

/** Removes leading whitespace, comments and opening parentheses. */
function stripLead(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.replace(/^[\s(]+/, '');
    if (trimmed.startsWith('--')) {
      const end = trimmed.indexOf('\n');
      rest = end < 0 ? '' : trimmed.slice(end + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      rest = end < 0 ? '' : trimmed.slice(end + 2);
    } else {
      return trimmed;
    }
  }
}

function unquote(name: string): string {
  return name
    .split(/\s*\.\s*/)
    .map((part) => (part.startsWith('"') ? part.slice(1, -1).replace(/""/g, '"') : part))
    .join('.');
}

/** Statements named by a table right after their keyword(s), matched once per statement text. */
function tablePattern(keyword: string): RegExp {
  return new RegExp(String.raw`${keyword}\s+${QUALIFIED}(\s*,)?(\s*\()?`, 'i');
}

const AFTER_FROM = tablePattern(String.raw`\bfrom(?:\s+only)?`);
const AFTER_INSERT = tablePattern(String.raw`^insert\s+into`);
const AFTER_UPDATE = tablePattern(String.raw`^update(?:\s+only)?`);
const AFTER_TRUNCATE = tablePattern(String.raw`^truncate(?:\s+table)?(?:\s+only)?`);
const AFTER_DDL = tablePattern(String.raw`^\w+\s+(?:(?:temp|temporary|unlogged)\s+)?table(?:\s+if(?:\s+not)?\s+exists)?`);

/** The table named right after `keyword`, when the statement names only that one. */
function singleTableAfter(body: string, pattern: RegExp, functionsPossible = false): string | undefined {
  const match = pattern.exec(body);
  if (!match || match[2]) return undefined; // no table, or a list of tables
  if (functionsPossible && match[3]) return undefined; // FROM generate_series(...): a function, not a table
  // A join, a second FROM (subquery) or a USING clause means more than one collection.
  const from = body.match(/\bfrom\b/gi)?.length ?? 0;
  if (/\bjoin\b/i.test(body) || from > 1 || /\busing\b/i.test(body)) return undefined;
  return unquote(match[1]!);
}

/**
 * Summarises a statement's text. Not cached here: the pg instrumentation keeps the result with the
 * statement's span name and attributes, once per text and connection target (`QueryTarget`).
 */
export function summarizeStatement(text: string): StatementSummary {
  const body = stripLead(text);
  const keyword = /^([A-Za-z]+)/.exec(body)?.[1];
  if (!keyword) return {};
  const operation = keyword.toUpperCase();
  let collection: string | undefined;
  switch (operation) {
    case 'SELECT':
    case 'DELETE':
      collection = singleTableAfter(body, AFTER_FROM, true);
      break;
    case 'INSERT':
      collection = singleTableAfter(body, AFTER_INSERT);
      break;
    case 'UPDATE':
      collection = singleTableAfter(body, AFTER_UPDATE);
      break;
    case 'TRUNCATE':
      collection = singleTableAfter(body, AFTER_TRUNCATE);
      break;
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
      collection = singleTableAfter(body, AFTER_DDL);
      break;
    default:
      break;
  }
  return collection === undefined ? { operation } : { operation, collection };
}
