-- Initial rows of the sequence tables: ids start at 1000, handed out in blocks of 100.
INSERT IGNORE INTO customer_seq (id, next_id, cache) VALUES (0, 1000, 100);
INSERT IGNORE INTO order_seq (id, next_id, cache) VALUES (0, 1000, 100);
