-- The commerce keyspace (unsharded): products, and the sequences that hand out ids to the
-- sharded customer keyspace.
CREATE TABLE IF NOT EXISTS product (
  sku VARBINARY(128),
  description VARBINARY(128),
  price BIGINT,
  PRIMARY KEY (sku)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS customer_seq (
  id INT,
  next_id BIGINT,
  cache BIGINT,
  PRIMARY KEY (id)
) COMMENT 'vitess_sequence' ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS order_seq (
  id INT,
  next_id BIGINT,
  cache BIGINT,
  PRIMARY KEY (id)
) COMMENT 'vitess_sequence' ENGINE=InnoDB;
