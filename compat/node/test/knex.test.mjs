// knex with its defaults (mysql2 client): migrations in the unsharded keyspace (its lock and
// history tables, the migration's CREATE TABLE), then insert and select through the query
// builder, and a migration rollback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import { HOST, PORT, USER, PASSWORD, UNSHARDED, SHARDED } from './env.mjs';

const migrations = fileURLToPath(new URL('../migrations', import.meta.url));
const make = (database) => knexFactory({ client: 'mysql2', connection: { host: HOST, port: PORT, user: USER, password: PASSWORD, database } });

test('migrate latest, insert, select, rollback (unsharded)', async () => {
  const knex = make(UNSHARDED);
  try {
    const [, done] = await knex.migrate.latest({ directory: migrations, loadExtensions: ['.cjs'] });
    assert.ok(await knex.schema.hasTable('knex_compat_item'));
    const [id] = await knex('knex_compat_item').insert({ name: "it's", qty: 3, price: '9.99' });
    assert.ok(id > 0);
    await knex('knex_compat_item').insert([{ name: 'b', qty: 1 }, { name: 'c', qty: 2 }]);
    const rows = await knex('knex_compat_item').select('name', 'qty').where('qty', '>=', 2).orderBy('qty', 'desc');
    assert.deepEqual(rows.map((r) => [r.name, r.qty]), [["it's", 3], ['c', 2]]);
    const [{ n }] = await knex('knex_compat_item').count({ n: '*' });
    assert.equal(Number(n), 3);
    assert.deepEqual(await knex.migrate.list({ directory: migrations, loadExtensions: ['.cjs'] }).then(([doneList, pending]) => pending.length), 0);
    await knex.migrate.rollback({ directory: migrations, loadExtensions: ['.cjs'] });
    assert.equal(await knex.schema.hasTable('knex_compat_item'), false);
  } finally {
    await knex.destroy();
  }
});

test('query builder on a sharded table', async () => {
  const knex = make(SHARDED);
  try {
    await knex('compat_kv').where({ client: 'knex' }).del();
    await knex('compat_kv').insert([1, 2, 3].map((i) => ({ id: 9_000_000 + i, client: 'knex', val: `v${i}` })));
    const row = await knex('compat_kv').where({ id: 9_000_002 }).first('val');
    assert.equal(row.val, 'v2');
    assert.equal(await knex('compat_kv').where({ id: 9_000_003 }).update({ val: 'x' }), 1);
    const rows = await knex('compat_kv').where({ client: 'knex' }).orderBy('id').pluck('val');
    assert.deepEqual(rows, ['v1', 'v2', 'x']);
  } finally {
    await knex.destroy();
  }
});
