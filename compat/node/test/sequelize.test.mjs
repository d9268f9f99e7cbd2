// Sequelize 6 with its defaults (mysql dialect over mysql2): authenticate, sync (its
// SET time_zone, CREATE TABLE IF NOT EXISTS, SHOW INDEX), create (INSERT ... VALUES (DEFAULT,
// ?, ...)), findAll/findByPk, update, destroy, a transaction; on an unsharded table it creates
// and on the sharded table compat_sq_users (ids from the sequence compat_sq_users_seq).
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { Sequelize, DataTypes, Op } from 'sequelize';
import { HOST, PORT, USER, PASSWORD, UNSHARDED, SHARDED } from './env.mjs';

// A Sequelize whose connection setup failed keeps a socket open, and the file would never
// end: leave two seconds after the last test.
after(() => setTimeout(() => process.exit(), 2000).unref());

const make = (database) => new Sequelize(database, USER, PASSWORD, { host: HOST, port: PORT, dialect: 'mysql', logging: false });

function define(sequelize, tableName) {
  return sequelize.define('SqUser', {
    name: { type: DataTypes.STRING },
    score: { type: DataTypes.INTEGER, defaultValue: 0 },
  }, { tableName });
}

test('authenticate', async () => {
  const s = make(SHARDED);
  try { await s.authenticate(); } finally { await s.close(); }
});

async function crud(database, tableName) {
  const s = make(database);
  try {
    const User = define(s, tableName);
    await User.sync();
    await User.destroy({ where: { name: { [Op.like]: 'sq-%' } } });
    const a = await User.create({ name: 'sq-a', score: 1 });
    assert.ok(a.id > 0, `id ${a.id}`);
    await User.bulkCreate([{ name: 'sq-b', score: 2 }, { name: 'sq-c', score: 3 }]);
    assert.equal((await User.findByPk(a.id)).name, 'sq-a');
    const rows = await User.findAll({ where: { name: { [Op.like]: 'sq-%' }, score: { [Op.gte]: 2 } }, order: [['score', 'DESC']] });
    assert.deepEqual(rows.map((r) => r.name), ['sq-c', 'sq-b']);
    await User.update({ score: 10 }, { where: { id: a.id } });
    assert.equal((await User.findByPk(a.id)).score, 10);
    await s.transaction(async (t) => {
      await User.create({ name: 'sq-tx', score: 5 }, { transaction: t });
    });
    await assert.rejects(s.transaction(async (t) => {
      await User.create({ name: 'sq-rolledback', score: 5 }, { transaction: t });
      throw new Error('roll back');
    }), /roll back/);
    assert.equal(await User.count({ where: { name: { [Op.like]: 'sq-%' } } }), 4);
    assert.equal(await User.destroy({ where: { name: 'sq-b' } }), 1);
  } finally {
    await s.close();
  }
}

test('sync, create, findAll, update, destroy, transaction (unsharded)', async () => {
  await crud(UNSHARDED, 'sq_compat_users');
});

test('sync, create, findAll, update, destroy, transaction (sharded)', async () => {
  await crud(SHARDED, 'compat_sq_users');
});
