-- The suite's sequences in the unsharded keyspace: ids for the sharded tables' auto_increment
-- columns (see vschema_customer.json).
CREATE TABLE IF NOT EXISTS compat_dj_order_seq (id INT, next_id BIGINT, cache BIGINT, PRIMARY KEY (id)) COMMENT 'vitess_sequence' ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS compat_sa_item_seq (id INT, next_id BIGINT, cache BIGINT, PRIMARY KEY (id)) COMMENT 'vitess_sequence' ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS compat_sq_users_seq (id INT, next_id BIGINT, cache BIGINT, PRIMARY KEY (id)) COMMENT 'vitess_sequence' ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS compat_java_item_seq (id INT, next_id BIGINT, cache BIGINT, PRIMARY KEY (id)) COMMENT 'vitess_sequence' ENGINE=InnoDB;
