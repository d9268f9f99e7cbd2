-- The suite's tables in the sharded keyspace (hash vindex on id, see vschema_customer.json).
-- compat_kv: explicit ids, used by the drivers (PyMySQL, mysqlclient, mysql-connector-python,
-- aiomysql, mysql2, Connector/J); the others take ids from sequences.
CREATE TABLE IF NOT EXISTS compat_kv (
  id BIGINT NOT NULL,
  client VARCHAR(32) NOT NULL,
  val VARCHAR(255),
  amount DECIMAL(12,2),
  created DATETIME,
  data VARBINARY(64),
  PRIMARY KEY (id),
  KEY ix_compat_kv_client (client)
) ENGINE=InnoDB;
-- Django's Order model (compat/python/compatapp)
CREATE TABLE IF NOT EXISTS compat_dj_order (
  id BIGINT NOT NULL,
  customer_id BIGINT NOT NULL,
  item VARCHAR(100) NOT NULL,
  qty INT NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  created DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
-- SQLAlchemy's SaItem model
CREATE TABLE IF NOT EXISTS compat_sa_item (
  id BIGINT NOT NULL,
  driver VARCHAR(40) NOT NULL,
  name VARCHAR(100) NOT NULL,
  qty INT NOT NULL,
  PRIMARY KEY (id),
  KEY ix_compat_sa_item_driver (driver)
) ENGINE=InnoDB;
-- Sequelize's SqUser model (what its sync() would create, less AUTO_INCREMENT: ids come from
-- the sequence)
CREATE TABLE IF NOT EXISTS compat_sq_users (
  id INTEGER NOT NULL,
  name VARCHAR(255),
  score INTEGER DEFAULT 0,
  createdAt DATETIME NOT NULL,
  updatedAt DATETIME NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
-- Connector/J's generated keys
CREATE TABLE IF NOT EXISTS compat_java_item (
  id BIGINT NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY (id)
) ENGINE=InnoDB;
