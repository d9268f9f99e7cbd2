// mysql2 with its defaults: `query` (client-side placeholders) and `execute` (server-side
// prepared statements, where a JS number is bound as the driver chooses) on the sharded
// table compat_kv (hash vindex on id) and on an unsharded table.
import test from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { HOST, PORT, USER, PASSWORD, UNSHARDED, SHARDED } from './env.mjs';

const connect = (database) => mysql.createConnection({ host: HOST, port: PORT, user: USER, password: PASSWORD, database });

async function crud(conn, table, base, tag, call) {
  await conn[call](`DELETE FROM ${table} WHERE client = ?`, [tag]);
  for (let i = 1; i <= 4; i++) {
    await conn[call](`INSERT INTO ${table} (id, client, val, amount) VALUES (?, ?, ?, ?)`, [base + i, tag, `v${i} 'q' \\`, i + 0.25]);
  }
  const [one] = await conn[call](`SELECT id, client, val, amount FROM ${table} WHERE id = ?`, [base + 2]);
  assert.deepEqual(one.map((r) => ({ ...r })), [{ id: base + 2, client: tag, val: "v2 'q' \\", amount: '2.25' }]);
  const [four] = await conn[call](`SELECT id FROM ${table} WHERE id IN (?, ?, ?, ?) ORDER BY id`, [base + 1, base + 2, base + 3, base + 4]);
  assert.deepEqual(four.map((r) => r.id), [base + 1, base + 2, base + 3, base + 4], 'IN (...) ORDER BY id');
  const [upd] = await conn[call](`UPDATE ${table} SET val = ? WHERE id = ?`, ['changed', base + 3]);
  assert.equal(upd.affectedRows, 1);
  const [del] = await conn[call](`DELETE FROM ${table} WHERE id = ?`, [base + 4]);
  assert.equal(del.affectedRows, 1);
  const [all] = await conn[call](`SELECT id, val FROM ${table} WHERE client = ? ORDER BY id DESC`, [tag]);
  assert.deepEqual(all.map((r) => [r.id, r.val]), [[base + 3, 'changed'], [base + 2, "v2 'q' \\"], [base + 1, "v1 'q' \\"]]);
  const [[agg]] = await conn[call](`SELECT COUNT(*) AS n, SUM(amount) AS s FROM ${table} WHERE client = ?`, [tag]);
  assert.deepEqual([Number(agg.n), agg.s], [3, '6.75']);
}

const UNSHARDED_DDL = `CREATE TABLE IF NOT EXISTS compat_node_kv (id BIGINT NOT NULL PRIMARY KEY,
  client VARCHAR(32) NOT NULL, val VARCHAR(255), amount DECIMAL(12,2), created DATETIME, data VARBINARY(64)) ENGINE=InnoDB`;

test('query with number binds, sharded', async () => {
  const conn = await connect(SHARDED);
  try { await crud(conn, 'compat_kv', 6_000_000, 'mysql2-query', 'query'); } finally { await conn.end(); }
});

test('execute with number binds, sharded', async () => {
  const conn = await connect(SHARDED);
  try { await crud(conn, 'compat_kv', 7_000_000, 'mysql2-execute', 'execute'); } finally { await conn.end(); }
});

test('execute select/update/delete by the vindex column with number binds, sharded (rows inserted by query)', async () => {
  const conn = await connect(SHARDED);
  const base = 7_500_000;
  try {
    await conn.query('DELETE FROM compat_kv WHERE client = ?', ['mysql2-exec2']);
    await conn.query('INSERT INTO compat_kv (id, client, val) VALUES ?', [[1, 2, 3, 4].map((i) => [base + i, 'mysql2-exec2', `v${i}`])]);
    const [one] = await conn.execute('SELECT id, val FROM compat_kv WHERE id = ?', [base + 2]);
    assert.deepEqual(one.map((r) => [r.id, r.val]), [[base + 2, 'v2']]);
    const [four] = await conn.execute('SELECT id FROM compat_kv WHERE id IN (?, ?, ?, ?) ORDER BY id', [base + 1, base + 2, base + 3, base + 4]);
    assert.deepEqual(four.map((r) => r.id), [base + 1, base + 2, base + 3, base + 4]);
    const [upd] = await conn.execute('UPDATE compat_kv SET val = ? WHERE id = ?', ['changed', base + 3]);
    assert.equal(upd.affectedRows, 1);
    const [del] = await conn.execute('DELETE FROM compat_kv WHERE id = ?', [base + 4]);
    assert.equal(del.affectedRows, 1);
  } finally { await conn.end(); }
});

test('query with number binds, unsharded', async () => {
  const conn = await connect(UNSHARDED);
  try {
    await conn.query(UNSHARDED_DDL);
    await crud(conn, 'compat_node_kv', 6_000_000, 'mysql2-query', 'query');
  } finally { await conn.end(); }
});

test('execute with number binds, unsharded', async () => {
  const conn = await connect(UNSHARDED);
  try {
    await conn.query(UNSHARDED_DDL);
    await crud(conn, 'compat_node_kv', 7_000_000, 'mysql2-execute', 'execute');
  } finally { await conn.end(); }
});

test('transaction across shards', async () => {
  const conn = await connect(SHARDED);
  try {
    await conn.execute('DELETE FROM compat_kv WHERE client = ?', ['mysql2-tx']);
    await conn.beginTransaction();
    for (let i = 1; i <= 4; i++) await conn.execute('INSERT INTO compat_kv (id, client) VALUES (?, ?)', [8_000_000 + i, 'mysql2-tx']);
    await conn.rollback();
    const [[r]] = await conn.execute('SELECT COUNT(*) AS n FROM compat_kv WHERE client = ?', ['mysql2-tx']);
    assert.equal(Number(r.n), 0);
    await conn.beginTransaction();
    for (let i = 1; i <= 4; i++) await conn.execute('INSERT INTO compat_kv (id, client) VALUES (?, ?)', [8_000_000 + i, 'mysql2-tx']);
    await conn.commit();
    const [[r2]] = await conn.execute('SELECT COUNT(*) AS n FROM compat_kv WHERE client = ?', ['mysql2-tx']);
    assert.equal(Number(r2.n), 4);
  } finally { await conn.end(); }
});

test('pool', async () => {
  const pool = mysql.createPool({ host: HOST, port: PORT, user: USER, password: PASSWORD, database: SHARDED, connectionLimit: 3 });
  try {
    const got = await Promise.all([...Array(10).keys()].map(async (i) => (await pool.query('SELECT ? + 1 AS v', [i]))[0][0].v));
    assert.deepEqual(got.map(Number), [...Array(10).keys()].map((i) => i + 1));
  } finally { await pool.end(); }
});
