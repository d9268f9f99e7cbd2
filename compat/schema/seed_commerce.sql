INSERT IGNORE INTO compat_dj_order_seq (id, next_id, cache) VALUES (0, 1, 100);
INSERT IGNORE INTO compat_sa_item_seq (id, next_id, cache) VALUES (0, 1, 100);
INSERT IGNORE INTO compat_sq_users_seq (id, next_id, cache) VALUES (0, 1, 100);
INSERT IGNORE INTO compat_java_item_seq (id, next_id, cache) VALUES (0, 1, 100);
