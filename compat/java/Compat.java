// MariaDB Connector/J (Debian's libmariadb-java) with its defaults against the gateway:
// connect, DatabaseMetaData (getTables, getColumns), setTransactionIsolation(READ_COMMITTED),
// inserts with generated keys, prepared statements; on the unsharded and the sharded keyspace.
//
//   javac -cp /usr/share/java/mariadb-java-client.jar -d OUT Compat.java
//   java -cp OUT:/usr/share/java/mariadb-java-client.jar Compat
//
// Environment: TESSERA_HOST, TESSERA_PORT, TESSERA_USER, TESSERA_PASSWORD, TESSERA_UNSHARDED,
// TESSERA_SHARDED, COMPAT_RESULTS (JSON lines, one record per case). Exits 1 if a case failed.

import java.io.FileWriter;
import java.io.IOException;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class Compat {
    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null ? dflt : v;
    }

    static final String HOST = env("TESSERA_HOST", "127.0.0.1");
    static final String PORT = env("TESSERA_PORT", "15306");
    static final String USER = env("TESSERA_USER", "root");
    static final String PASSWORD = env("TESSERA_PASSWORD", "");
    static final String UNSHARDED = env("TESSERA_UNSHARDED", "commerce");
    static final String SHARDED = env("TESSERA_SHARDED", "customer");
    static String client = "MariaDB Connector/J";
    static int failures = 0;

    interface Case {
        void run() throws Exception;
    }

    static Connection connect(String db) throws SQLException {
        return DriverManager.getConnection("jdbc:mariadb://" + HOST + ":" + PORT + "/" + db, USER, PASSWORD);
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static void run(String name, Case c) {
        double start = System.currentTimeMillis() / 1000.0;
        String status = "PASS";
        String error = "";
        String detail = "";
        try {
            c.run();
        } catch (Throwable t) {
            status = "FAIL";
            failures++;
            String msg = String.valueOf(t.getMessage()).split("\n")[0];
            if (t instanceof SQLException) {
                SQLException e = (SQLException) t;
                error = t.getClass().getSimpleName() + ": (" + e.getErrorCode() + ", " + e.getSQLState() + ") " + msg;
            } else {
                error = t.getClass().getSimpleName() + ": " + msg;
            }
            java.io.StringWriter sw = new java.io.StringWriter();
            t.printStackTrace(new java.io.PrintWriter(sw));
            detail = sw.toString();
            if (detail.length() > 4000) detail = detail.substring(0, 4000);
        }
        double end = System.currentTimeMillis() / 1000.0;
        System.out.println(status + " " + name + (error.isEmpty() ? "" : "  -- " + error));
        if (!detail.isEmpty()) System.out.println(detail);
        String out = System.getenv("COMPAT_RESULTS");
        if (out != null) {
            if (error.length() > 400) error = error.substring(0, 400);
            String rec = "{\"client\": " + json(client) + ", \"case\": " + json(name) + ", \"status\": " + json(status)
                    + ", \"error\": " + json(error) + ", \"start\": " + start + ", \"end\": " + end
                    + ", \"detail\": " + json(detail) + "}\n";
            try (FileWriter w = new FileWriter(out, true)) {
                w.write(rec);
            } catch (IOException e) {
                System.err.println("cannot write " + out + ": " + e);
            }
        }
    }

    static List<String> tables(DatabaseMetaData md, String db) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = md.getTables(db, null, "%", new String[] {"TABLE"})) {
            while (rs.next()) names.add(rs.getString("TABLE_NAME"));
        }
        return names;
    }

    static List<String> columns(DatabaseMetaData md, String db, String table) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = md.getColumns(db, null, table, "%")) {
            while (rs.next()) names.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME"));
        }
        return names;
    }

    static void generatedKeys(String db, String table) throws Exception {
        try (Connection c = connect(db)) {
            List<Long> ids = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (name) VALUES (?)", Statement.RETURN_GENERATED_KEYS)) {
                for (int i = 0; i < 3; i++) {
                    ps.setString(1, "java " + i);
                    check(ps.executeUpdate() == 1, "one row inserted");
                    try (ResultSet keys = ps.getGeneratedKeys()) {
                        check(keys.next(), "a generated key");
                        long id = keys.getLong(1);
                        check(id > 0, "generated key " + id + " > 0");
                        ids.add(id);
                    }
                }
            }
            check(ids.stream().distinct().count() == 3, "distinct keys " + ids);
            try (PreparedStatement ps = c.prepareStatement("SELECT name FROM " + table + " WHERE id = ?")) {
                ps.setLong(1, ids.get(1));
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next() && "java 1".equals(rs.getString(1)), "row " + ids.get(1) + " reads back");
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Class.forName("org.mariadb.jdbc.Driver");
        client = "MariaDB Connector/J " + new org.mariadb.jdbc.Driver().getMajorVersion() + "."
                + new org.mariadb.jdbc.Driver().getMinorVersion() + " (java " + System.getProperty("java.version") + ")";

        run("connect", () -> {
            try (Connection c = connect(UNSHARDED); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                check(rs.next() && rs.getInt(1) == 1, "SELECT 1");
            }
        });
        run("metadata getTables/getColumns, unsharded", () -> {
            try (Connection c = connect(UNSHARDED)) {
                DatabaseMetaData md = c.getMetaData();
                List<String> t = tables(md, UNSHARDED);
                check(t.contains("product"), "product in getTables: " + t);
                List<String> cols = columns(md, UNSHARDED, "product");
                check(cols.equals(List.of("sku VARBINARY", "description VARBINARY", "price BIGINT")), "product columns " + cols);
            }
        });
        run("metadata getTables/getColumns, sharded", () -> {
            try (Connection c = connect(SHARDED)) {
                DatabaseMetaData md = c.getMetaData();
                List<String> t = tables(md, SHARDED);
                check(t.contains("customer") && t.contains("compat_java_item"), "customer, compat_java_item in getTables: " + t);
                List<String> cols = columns(md, SHARDED, "customer");
                check(cols.equals(List.of("customer_id BIGINT", "email VARBINARY")), "customer columns " + cols);
            }
        });
        run("metadata getDatabaseProductVersion", () -> {
            try (Connection c = connect(UNSHARDED)) {
                String v = c.getMetaData().getDatabaseProductVersion();
                check(v.contains("MariaDB"), "product version " + v + " should name the MariaDB the tablets run");
            }
        });
        run("setTransactionIsolation(READ_COMMITTED)", () -> {
            try (Connection c = connect(SHARDED)) {
                c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
                check(c.getTransactionIsolation() == Connection.TRANSACTION_READ_COMMITTED, "isolation reads back");
                c.setAutoCommit(false);
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM customer")) {
                    check(rs.next(), "a count");
                }
                c.commit();
            }
        });
        run("generated keys, unsharded", () -> {
            try (Connection c = connect(UNSHARDED); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE IF NOT EXISTS compat_java_u (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100)) ENGINE=InnoDB");
            }
            generatedKeys(UNSHARDED, "compat_java_u");
        });
        run("generated keys, sharded (sequence)", () -> generatedKeys(SHARDED, "compat_java_item"));
        run("prepared CRUD and transaction, sharded", () -> {
            try (Connection c = connect(SHARDED)) {
                try (PreparedStatement d = c.prepareStatement("DELETE FROM compat_kv WHERE client = ?")) {
                    d.setString(1, "java");
                    d.executeUpdate();
                }
                c.setAutoCommit(false);
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO compat_kv (id, client, val, amount) VALUES (?, ?, ?, ?)")) {
                    for (int i = 1; i <= 4; i++) {
                        ins.setLong(1, 10_000_000L + i);
                        ins.setString(2, "java");
                        ins.setString(3, "v" + i + " 'q' \\");
                        ins.setBigDecimal(4, new java.math.BigDecimal(i + ".50"));
                        ins.addBatch();
                    }
                    ins.executeBatch();
                }
                c.commit();
                try (PreparedStatement q = c.prepareStatement("SELECT val FROM compat_kv WHERE id = ?")) {
                    q.setLong(1, 10_000_002L);
                    try (ResultSet rs = q.executeQuery()) {
                        check(rs.next() && "v2 'q' \\".equals(rs.getString(1)), "row 2 reads back");
                    }
                }
                try (PreparedStatement u = c.prepareStatement("UPDATE compat_kv SET val = ? WHERE id = ?")) {
                    u.setString(1, "rolled back");
                    u.setLong(2, 10_000_001L);
                    check(u.executeUpdate() == 1, "one row updated");
                }
                c.rollback();
                try (PreparedStatement q = c.prepareStatement("SELECT id, val FROM compat_kv WHERE client = ? ORDER BY id")) {
                    q.setString(1, "java");
                    try (ResultSet rs = q.executeQuery()) {
                        List<String> got = new ArrayList<>();
                        while (rs.next()) got.add(rs.getLong(1) + "=" + rs.getString(2));
                        check(got.size() == 4 && got.get(0).equals("10000001=v1 'q' \\"), "rows after rollback " + got);
                    }
                }
                c.commit();
            }
        });
        System.exit(failures == 0 ? 0 : 1);
    }
}
