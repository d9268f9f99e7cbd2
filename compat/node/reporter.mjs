// A node:test reporter that prints one line per test and appends one JSON record per
// top-level test to $COMPAT_RESULTS (client, case, PASS/FAIL, first error line, start, end),
// the format the suite's summary reads.
import { appendFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

function clientOf(file) {
  const pkg = basename(file || '').replace(/\.test\.m?js$/, '');
  try {
    const v = JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url))).version;
    return `${pkg} ${v} (node ${process.versions.node})`;
  } catch {
    return pkg || 'node';
  }
}

function firstLine(err) {
  let e = err;
  while (e && e.cause && (e.code === 'ERR_TEST_FAILURE' || e.failureType)) e = e.cause;
  if (!e) return '';
  const name = e.code && typeof e.code === 'string' && e.code !== 'ERR_ASSERTION' ? `${e.name} ${e.code}` : e.name || 'Error';
  const msg = String(e.sqlMessage ? `${e.errno}: ${e.sqlMessage}` : e.message || e).split('\n')[0];
  return `${name}: ${msg}`.slice(0, 400);
}

export default async function* reporter(source) {
  const starts = new Map();
  const out = process.env.COMPAT_RESULTS;
  for await (const event of source) {
    const d = event.data || {};
    if (event.type === 'test:start' && d.nesting === 0) {
      starts.set(d.name, Date.now() / 1000);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && d.nesting === 0) {
      const status = event.type === 'test:pass' ? (d.skip || d.todo ? 'SKIP' : 'PASS') : 'FAIL';
      const error = status === 'FAIL' ? firstLine(d.details && d.details.error) : '';
      // events may be reported after the fact: the test's own duration dates its start
      const end = Date.now() / 1000;
      const duration = d.details && typeof d.details.duration_ms === 'number' ? d.details.duration_ms / 1000 : null;
      const rec = {
        client: clientOf(d.file || process.argv[1]),
        case: d.name,
        status,
        error,
        start: duration === null ? (starts.get(d.name) ?? end) : Math.min(starts.get(d.name) ?? end, end - duration),
        end,
        detail: status === 'FAIL' ? String((d.details && d.details.error && (d.details.error.cause || d.details.error).stack) || '').slice(0, 4000) : '',
      };
      if (out) appendFileSync(out, JSON.stringify(rec) + '\n');
      yield `${status} ${d.name}${error ? `  -- ${error}` : ''}\n`;
      if (status === 'FAIL') yield `${rec.detail}\n`;
    } else if (event.type === 'test:diagnostic') {
      yield `# ${d.message}\n`;
    }
  }
}
