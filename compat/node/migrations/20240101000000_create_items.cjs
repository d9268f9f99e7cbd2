// The suite's knex migration: one table in the unsharded keyspace.
exports.up = (knex) =>
  knex.schema.createTable('knex_compat_item', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable().index();
    t.integer('qty').notNullable().defaultTo(0);
    t.decimal('price', 10, 2);
    t.timestamps(true, true);
  });

exports.down = (knex) => knex.schema.dropTable('knex_compat_item');
