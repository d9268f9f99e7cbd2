#!/usr/bin/env python3
"""A transparent MySQL-protocol TCP proxy that records what clients send to the gateway.

The compatibility suite points its clients at this proxy (which forwards every byte to the
gateway unchanged, as it arrives) so that a failing case can be reported with the exact
statement the client sent and the error the gateway answered, whatever the client's language.

    wirelog.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:GATEWAY_PORT --log FILE.jsonl

Every command (COM_QUERY text, prepared statement text with the types and values of its
parameters, COM_INIT_DB, COM_STATISTICS, ...) is one JSON line with its outcome:
{"t": unix time, "conn": proxy connection number, "cmd": "QUERY", "sql": "...",
 "result": "ok" | "rows" | "err" | "closed", "errno": 1235, "sqlstate": "42000", "msg": "..."}.
The parser only reads copies of the bytes: if it cannot understand something it stops parsing
that connection and the bytes still flow.

--probe (diagnostics only, never a verdict): the proxy papers over what the gateway refuses
so that a client gets further and the statements it sends later are seen too. It announces
the tablets' MariaDB version in the handshake, answers refused SET statements with OK, and
runs refused read-only statements (SELECT/SHOW/DESCRIBE/EXPLAIN) on the keyspace's first
primary tablet itself (keyspace names mapped to the tablets' database names and back). Every
such reply is logged with result "emulated" and the gateway's error.
"""

import argparse
import asyncio
import json
import re
import struct
import sys
import time

COMMANDS = {
    0x01: "QUIT", 0x02: "INIT_DB", 0x03: "QUERY", 0x04: "FIELD_LIST", 0x05: "CREATE_DB",
    0x06: "DROP_DB", 0x07: "REFRESH", 0x08: "SHUTDOWN", 0x09: "STATISTICS", 0x0A: "PROCESS_INFO",
    0x0C: "PROCESS_KILL", 0x0D: "DEBUG", 0x0E: "PING", 0x11: "CHANGE_USER", 0x16: "STMT_PREPARE",
    0x17: "STMT_EXECUTE", 0x18: "STMT_SEND_LONG_DATA", 0x19: "STMT_CLOSE", 0x1A: "STMT_RESET",
    0x1B: "SET_OPTION", 0x1C: "STMT_FETCH", 0x1F: "RESET_CONNECTION", 0xFA: "STMT_BULK_EXECUTE",
}
NO_REPLY = {0x01, 0x18, 0x19}

TYPES = {
    0x00: "DECIMAL", 0x01: "TINY", 0x02: "SHORT", 0x03: "LONG", 0x04: "FLOAT", 0x05: "DOUBLE",
    0x06: "NULL", 0x07: "TIMESTAMP", 0x08: "LONGLONG", 0x09: "INT24", 0x0A: "DATE", 0x0B: "TIME",
    0x0C: "DATETIME", 0x0D: "YEAR", 0x0F: "VARCHAR", 0x10: "BIT", 0xF5: "JSON",
    0xF6: "NEWDECIMAL", 0xF7: "ENUM", 0xF8: "SET", 0xF9: "TINY_BLOB", 0xFA: "MEDIUM_BLOB",
    0xFB: "LONG_BLOB", 0xFC: "BLOB", 0xFD: "VAR_STRING", 0xFE: "STRING", 0xFF: "GEOMETRY",
}


def lenenc(buf, pos):
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC:
        return struct.unpack_from("<H", buf, pos + 1)[0], pos + 3
    if first == 0xFD:
        return int.from_bytes(buf[pos + 1:pos + 4], "little"), pos + 4
    if first == 0xFE:
        return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9
    raise ValueError("bad length-encoded integer")


def text(b):
    return b.decode("utf-8", "backslashreplace")


def short(s, limit=4000):
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def decode_params(payload, stmt):
    """The parameters of a COM_STMT_EXECUTE as [(type name, value repr)]."""
    n = stmt["params"]
    if n == 0:
        return []
    pos = 1 + 4 + 1 + 4
    nbytes = (n + 7) // 8
    nulls = payload[pos:pos + nbytes]
    pos += nbytes
    bound = payload[pos]
    pos += 1
    if bound:
        types = [(payload[pos + 2 * i], payload[pos + 2 * i + 1]) for i in range(n)]
        pos += 2 * n
        stmt["types"] = types
    types = stmt.get("types") or [(0xFD, 0)] * n
    out = []
    for i in range(n):
        t, flags = types[i]
        name = TYPES.get(t, "0x%02x" % t) + (" UNSIGNED" if flags & 0x80 else "")
        if nulls[i // 8] & (1 << (i % 8)):
            out.append((name, "NULL"))
            continue
        if i in stmt.get("long", ()):
            out.append((name, "<long data>"))
            continue
        unsigned = bool(flags & 0x80)
        if t == 0x01:
            v = struct.unpack_from("<B" if unsigned else "<b", payload, pos)[0]; pos += 1
        elif t in (0x02, 0x0D):
            v = struct.unpack_from("<H" if unsigned else "<h", payload, pos)[0]; pos += 2
        elif t in (0x03, 0x09):
            v = struct.unpack_from("<I" if unsigned else "<i", payload, pos)[0]; pos += 4
        elif t == 0x08:
            v = struct.unpack_from("<Q" if unsigned else "<q", payload, pos)[0]; pos += 8
        elif t == 0x04:
            v = struct.unpack_from("<f", payload, pos)[0]; pos += 4
        elif t == 0x05:
            v = struct.unpack_from("<d", payload, pos)[0]; pos += 8
        elif t == 0x06:
            v = None
        elif t in (0x07, 0x0A, 0x0C, 0x0B):
            ln = payload[pos]
            v = payload[pos + 1:pos + 1 + ln].hex() or "zero"
            if t != 0x0B and ln >= 4:
                y, mo, d = struct.unpack_from("<HBB", payload, pos + 1)
                v = "%04d-%02d-%02d" % (y, mo, d)
                if ln >= 7:
                    h, mi, s = payload[pos + 5:pos + 8]
                    v += " %02d:%02d:%02d" % (h, mi, s)
                if ln >= 11:
                    v += ".%06d" % struct.unpack_from("<I", payload, pos + 8)[0]
            pos += 1 + ln
        else:
            ln, pos = lenenc(payload, pos)
            v = short(text(payload[pos:pos + ln]), 200)
            pos += ln
        out.append((name, repr(v)))
    return out


class Conn:
    """Parses both directions of one proxied connection."""

    def __init__(self, num, log, probe=None):
        self.num = num
        self.log = log
        self.probe = probe
        self.db = None
        self.caps = 0
        self.server_caps = 0
        self.status = 0x0002
        self.swallow = None
        self.cbuf = bytearray()
        self.sbuf = bytearray()
        self.phase = "greeting"  # greeting -> auth -> command; "opaque" when we gave up
        self.pending = []  # commands awaiting their first reply packet
        self.current = None  # the command whose reply is being read
        self.stmts = {}
        self.last_prepared = None

    def emit(self, rec, **extra):
        rec = {k: v for k, v in rec.items() if not k.startswith("_")}
        rec.update(extra)
        rec.setdefault("t", time.time())
        rec["conn"] = self.num
        self.log(rec)

    # client -> server
    def client_bytes(self, data):
        if self.phase == "opaque":
            return
        self.cbuf += data
        while len(self.cbuf) >= 4:
            ln = int.from_bytes(self.cbuf[0:3], "little")
            if len(self.cbuf) < 4 + ln:
                return
            seq = self.cbuf[3]
            payload = bytes(self.cbuf[4:4 + ln])
            del self.cbuf[:4 + ln]
            try:
                self.client_packet(seq, payload)
            except Exception as e:  # never let parsing break the proxy
                self.emit({"cmd": "PARSER", "result": "note", "msg": "client packet not understood: %r" % e})

    def client_packet(self, seq, payload):
        if self.phase == "auth":
            if seq == 1 and len(payload) == 32:
                caps = struct.unpack_from("<I", payload, 0)[0]
                if caps & 0x800:
                    self.emit({"cmd": "CONNECT", "result": "note", "msg": "TLS requested: not parsed further"})
                    self.phase = "opaque"
            elif seq == 1 and len(payload) > 32:
                self.caps = struct.unpack_from("<I", payload, 0)[0]
                pos = 32
                end = payload.index(b"\0", pos)
                pos = end + 1
                if self.caps & 0x200000:
                    n, pos = lenenc(payload, pos)
                    pos += n
                elif self.caps & 0x8000:
                    pos += 1 + payload[pos]
                else:
                    pos = payload.index(b"\0", pos) + 1
                if self.caps & 0x8 and pos < len(payload):
                    self.db = text(payload[pos:].split(b"\0")[0]) or None
            return
        if self.phase != "command" or seq != 0 or not payload:
            return
        code = payload[0]
        rec = {"t": time.time(), "cmd": COMMANDS.get(code, "0x%02x" % code)}
        if code in (0x03, 0x16):
            rec["sql"] = short(text(payload[1:]))
            if self.probe is not None and code == 0x03:
                rec["_sql"] = text(payload[1:])
                answer = self.probe.answers(rec["_sql"])
                if answer is not None:
                    rec["_replace"] = answer
        elif code in (0x02, 0x04):
            rec["arg"] = text(payload[1:].split(b"\0")[0])
        elif code == 0x0C:
            rec["arg"] = struct.unpack_from("<I", payload, 1)[0]
        elif code == 0x1B:
            rec["arg"] = struct.unpack_from("<H", payload, 1)[0]
        elif code in (0x17, 0x19, 0x1A, 0x1C, 0x18, 0xFA):
            sid = struct.unpack_from("<I", payload, 1)[0]
            if sid == 0xFFFFFFFF:
                sid = self.last_prepared
            stmt = self.stmts.get(sid, {"sql": "<unknown statement %s>" % sid, "params": 0})
            rec["sql"] = stmt["sql"]
            rec["stmt_id"] = sid
            if code == 0x17:
                try:
                    rec["params"] = ["%s %s" % p for p in decode_params(payload, stmt)]
                except Exception as e:
                    rec["params_raw"] = payload[10:].hex()[:400]
                    rec["params_error"] = repr(e)
            elif code == 0x18:
                param = struct.unpack_from("<H", payload, 5)[0]
                stmt.setdefault("long", set()).add(param)
        if code in NO_REPLY:
            if code == 0x19:
                self.stmts.pop(rec.get("stmt_id"), None)
            if code != 0x18:
                self.emit(rec, result="none")
            return
        if code == 0x17:
            stmt = self.stmts.get(rec.get("stmt_id"))
            if stmt is not None:
                stmt.pop("long", None)
        self.pending.append(rec)

    # server -> client
    def server_bytes(self, data):
        """Parses what the server sent; in probe mode returns the bytes to send the client."""
        if self.phase == "opaque":
            if self.probe is not None:
                out = bytes(self.sbuf) + data
                self.sbuf.clear()
                return out
            return None
        self.sbuf += data
        out = bytearray()
        while len(self.sbuf) >= 4:
            ln = int.from_bytes(self.sbuf[0:3], "little")
            if len(self.sbuf) < 4 + ln:
                break
            seq = self.sbuf[3]
            raw = bytes(self.sbuf[:4 + ln])
            payload = raw[4:]
            del self.sbuf[:4 + ln]
            replacement = None
            try:
                replacement = self.server_packet(seq, payload)
            except Exception as e:
                self.emit({"cmd": "PARSER", "result": "note", "msg": "server packet not understood: %r" % e})
            if replacement is None:
                out += raw
            else:
                start = seq
                if isinstance(replacement, tuple):
                    start, replacement = replacement
                for i, p in enumerate(replacement):
                    out += len(p).to_bytes(3, "little") + bytes([(start + i) & 0xFF]) + p
        if self.probe is not None and self.phase == "opaque":
            out += self.sbuf
            self.sbuf.clear()
        return bytes(out)

    def err(self, payload):
        errno = struct.unpack_from("<H", payload, 1)[0]
        rest = payload[3:]
        state = ""
        if rest[:1] == b"#":
            state, rest = text(rest[1:6]), rest[6:]
        return {"errno": errno, "sqlstate": state, "msg": text(rest)}

    def server_packet(self, seq, payload):
        if self.phase == "greeting":
            if payload[:1] == b"\xff":
                self.emit({"cmd": "CONNECT", "result": "err", **self.err(payload)})
                self.phase = "opaque"
                return
            version = text(payload[1:].split(b"\0")[0])
            pos = 1 + len(payload[1:].split(b"\0")[0]) + 1 + 4 + 8 + 1
            lo = struct.unpack_from("<H", payload, pos)[0]
            hi = struct.unpack_from("<H", payload, pos + 5)[0] if len(payload) >= pos + 7 else 0
            self.server_caps = lo | (hi << 16)
            self.emit({"cmd": "CONNECT", "result": "note", "msg": "server version %s" % version})
            self.phase = "auth"
            if self.probe is not None and self.probe.version:
                rest = payload[1 + len(version.encode()) + 1:]
                return [payload[:1] + self.probe.version.encode() + b"\0" + rest]
            return
        if self.phase == "auth":
            if payload[:1] == b"\x00":
                self.phase = "command"
            elif payload[:1] == b"\xff":
                self.emit({"cmd": "CONNECT", "result": "err", **self.err(payload)})
            return
        # command phase: the first reply packet of a command has sequence 1
        if self.swallow is not None and seq != 1:
            return self.swallowing(payload)
        if seq == 1 and self.pending:
            self.current = self.pending.pop(0)
            cur = self.current
            first = payload[:1]
            if "_replace" in cur:
                self.swallow = {"rec": cur, "phase": "count"}
                return self.swallowing(payload)
            if first == b"\xff":
                if self.probe is not None and cur["cmd"] == "QUERY":
                    replacement = self.probe.emulate(self, cur, self.err(payload))
                    if replacement is not None:
                        self.current = None
                        return replacement
                self.emit(cur, result="err", **self.err(payload))
                self.current = None
            elif cur["cmd"] == "STMT_PREPARE" and first == b"\x00" and len(payload) >= 12:
                sid, cols, params = struct.unpack_from("<IHH", payload, 1)
                self.stmts[sid] = {"sql": cur.get("sql", ""), "params": params}
                self.last_prepared = sid
                self.emit(cur, result="ok", stmt_id=sid, nparams=params)
            elif first == b"\x00" or (first == b"\xfe" and len(payload) < 9):
                self.track_status(payload)
                self.emit(cur, result="ok")
                if cur["cmd"] == "INIT_DB":
                    self.db = cur.get("arg")
                elif cur["cmd"] == "QUERY":
                    m = re.match(r"\s*use\s+`?([^`;\s]+)`?\s*;?\s*$", cur.get("sql", ""), re.I)
                    if m:
                        self.db = m.group(1)
            else:
                self.emit(cur, result="rows")
            return
        if payload[:1] == b"\xff" and len(payload) >= 3:
            # an error after a result started (a later statement of a multi-statement, or
            # a statement failing while its rows stream)
            cur = self.current or {"cmd": "?"}
            self.emit(cur, result="err", during="results", **self.err(payload))

    def swallowing(self, payload):
        """Drops the server's reply to a statement the probe answers itself; at its end,
        returns the probe's answer."""
        sw = self.swallow
        first = payload[:1]
        done = False
        if sw["phase"] == "count":
            if first in (b"\x00", b"\xff") or (first == b"\xfe" and len(payload) < 9):
                done = True
            else:
                sw["cols"], _ = lenenc(payload, 0)
                sw["phase"] = "cols"
        elif sw["phase"] == "cols":
            sw["cols"] -= 1
            if sw["cols"] == 0:
                sw["phase"] = "rows" if self.caps & self.server_caps & 0x01000000 else "coleof"
        elif sw["phase"] == "coleof":
            sw["phase"] = "rows"
        elif first == b"\xff" or (first == b"\xfe" and len(payload) < 0xFFFFFF):
            self.track_status(payload)
            done = True
        if not done:
            return []
        self.swallow = None
        self.current = None
        rec = sw["rec"]
        self.emit(rec, result="rows", probe="answered by the probe: %s" % rec["_replace"][1][0][0])
        fields, rows = rec["_replace"]
        return (1, self.probe.result_of(self, fields, rows))

    def track_status(self, payload):
        try:
            if payload[:1] == b"\x00":
                _, pos = lenenc(payload, 1)
                _, pos = lenenc(payload, pos)
                self.status = struct.unpack_from("<H", payload, pos)[0]
            elif payload[:1] == b"\xfe" and len(payload) >= 5:
                self.status = struct.unpack_from("<H", payload, 3)[0]
        except Exception:
            pass

    def closed(self, by):
        for rec in self.pending:
            self.emit(rec, result="closed", msg="connection closed by %s before a reply" % by)
        self.pending = []


LEADING_COMMENTS = re.compile(r"^\s*(?:/\*(?!!)(?:.|\n)*?\*/\s*|--[^\n]*\n\s*|#[^\n]*\n\s*)*")


def lenenc_int(n):
    if n < 0xFB:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    return lenenc_int(len(b)) + b


class Probe:
    """Diagnostics only: answers what the gateway refused, so clients get further."""

    def __init__(self, version, tablets):
        self.version = version
        self.tablets = tablets  # keyspace -> unix socket of its first primary
        self.conns = {}
        self.prefix = "vt_"  # what the tablets' database names add to a keyspace's name

    def tablet(self, ks):
        import pymysql  # only the probe needs it

        sock = self.tablets.get(ks)
        if sock is None:
            return None
        conn = self.conns.get(ks)
        if conn is None or not conn.open:
            conn = pymysql.connect(unix_socket=sock, user="root", conv={}, autocommit=True)
            with conn.cursor() as c:  # the tablets' database: vt_<keyspace>, or the keyspace's name
                c.execute("SHOW DATABASES LIKE 'vt\\_%s'" % ks)
                self.prefix = "vt_" if c.fetchall() else ""
            conn.select_db(self.prefix + ks)
            self.conns[ks] = conn
        return conn

    def patterns(self):
        names = "|".join(re.escape(k) for k in self.tablets)
        return [
            (re.compile(r"((?:SCHEMA|SCHEMA_NAME|DB|CATALOG)\s*(?:=|LIKE|IN\s*\()\s*)'(%s)'" % names, re.I), r"\1'vt_\2'"),
            (re.compile(r"\b(TABLES|STATUS|EVENTS|TRIGGERS)(\s+)(FROM|IN)(\s+)`?(%s)`?(?![\w`])" % names, re.I), r"\1\2\3\4`vt_\5`"),
            (re.compile(r"\b(FROM|IN)(\s+`?\w+`?\s+)(FROM|IN)(\s+)`?(%s)`?(?![\w`])" % names, re.I), r"\1\2\3\4`vt_\5`"),
            (re.compile(r"\b(DATABASE|SCHEMA)(\s+)`?(%s)`?(?![\w`])" % names, re.I), r"\1\2`vt_\3`"),
            (re.compile(r"`(%s)`\." % names), r"`vt_\1`."),
            (re.compile(r"(?<![\w.`])(%s)\.(?=[`\w])" % names), r"vt_\1."),
        ]

    def to_tablet(self, sql):
        """The statement with keyspace names as the tablets' database names, and the keyspace
        whose tablet should answer it (the one it names, if it names one)."""
        named = []
        for pat, rep in self.patterns():
            named += [k for m in pat.finditer(sql) for k in m.groups() if k in self.tablets]
            sql = pat.sub(rep.replace("vt_", self.prefix), sql)
        return sql, (named[0] if named else None)

    def from_tablet(self, b):
        if not self.prefix:
            return b
        for k in self.tablets:
            b = b.replace(b"vt_" + k.encode(), k.encode())
        return b

    VERSION_QUERY = re.compile(r"^\s*SELECT\s+(VERSION\(\)|@@(?:global\.|session\.)?version)(\s+AS\s+`?(\w+)`?)?\s*;?\s*$", re.I)

    def answers(self, sql):
        """The answer to a statement the probe answers itself (the server identity), or None."""
        m = self.VERSION_QUERY.match(sql)
        if not m or not self.version:
            return None
        name = m.group(3) or m.group(1)
        return ([name], [[self.version.replace("5.5.5-", "", 1)]])

    def result_of(self, conn, names, rows):
        """A text result set of string columns."""

        class F:
            pass

        fields = []
        for n in names:
            f = F()
            f.db, f.table_name, f.org_table, f.name, f.org_name = b"", "", "", n, ""
            f.charsetnr, f.length, f.type_code, f.flags, f.scale = 45, 1024, 0xFD, 0, 39
            fields.append(f)
        return self.result(conn, fields, rows)

    def ok(self, conn):
        return [b"\x00\x00\x00" + struct.pack("<HH", conn.status, 0)]

    def result(self, conn, fields, rows):
        deprecate_eof = bool(conn.caps & conn.server_caps & 0x01000000)
        eof = b"\xfe" + struct.pack("<HH", 0, conn.status)
        out = [lenenc_int(len(fields))]
        for f in fields:
            out.append(
                lenenc_str(b"def") + lenenc_str(self.from_tablet(f.db if isinstance(f.db, bytes) else str(f.db or "").encode()))
                + lenenc_str(f.table_name.encode()) + lenenc_str(f.org_table.encode())
                + lenenc_str(self.from_tablet(f.name.encode())) + lenenc_str(f.org_name.encode())
                + b"\x0c" + struct.pack("<HIBHB", f.charsetnr, f.length, f.type_code, f.flags, f.scale) + b"\x00\x00"
            )
        if not deprecate_eof:
            out.append(eof)
        for row in rows:
            cells = b""
            for v in row:
                if v is None:
                    cells += b"\xfb"
                else:
                    v = v if isinstance(v, (bytes, bytearray)) else str(v).encode()
                    cells += lenenc_str(self.from_tablet(bytes(v)))
            out.append(cells)
        out.append((b"\xfe\x00\x00" + struct.pack("<HH", conn.status, 0)) if deprecate_eof else eof)
        return out

    def emulate(self, conn, cur, err):
        sql = cur.get("_sql", cur.get("sql", ""))
        body = LEADING_COMMENTS.sub("", sql)
        word = re.match(r"(?:/\*M?!\d*\s*)?(\w+)", body)
        word = word.group(1).upper() if word else ""
        if word == "SET":
            conn.emit(cur, result="emulated", how="answered OK", **err)
            return self.ok(conn)
        if word in ("SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH") and err["errno"] in (1044, 1049, 1064, 1142, 1235, 1238):
            try:
                self.tablet(next(iter(self.tablets)))  # learns how tablets name their databases
            except Exception as e:
                conn.emit({"cmd": "PROBE", "result": "note", "msg": "no tablet: %r" % (e,)})
                return None
            tsql, named = self.to_tablet(sql)
            ks = conn.db if conn.db in self.tablets else named
            if named and named != conn.db and not re.search(r"\b(FROM|JOIN)\s+(?!`?%s|`?information_schema)" % (self.prefix or named), re.split(r"(?i)\bWHERE\b", tsql)[0], re.I):
                ks = named
            if ks is None:
                return None
            try:
                tconn = self.tablet(ks)
                with tconn.cursor() as c:
                    c.execute(tsql)
                    fields = c._result.fields if c._result and c._result.fields else None
                    rows = c.fetchall()
                if fields is None:
                    conn.emit(cur, result="emulated", how="OK from the tablet", **err)
                    return self.ok(conn)
                conn.emit(cur, result="emulated", how="answered by the tablet", **err)
                return self.result(conn, fields, rows)
            except Exception as e:
                conn.emit({"cmd": "PROBE", "result": "note", "msg": "tablet could not answer either: %r" % (e,)})
        return None


async def pipe(reader, writer, feed, transform=False):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if transform:
                try:
                    out = feed(data)
                except Exception:
                    out = data
                writer.write(data if out is None else out)
            else:
                writer.write(data)
                try:
                    feed(data)
                except Exception:
                    pass
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--probe", action="store_true", help="diagnostics: paper over refusals (see the module doc)")
    ap.add_argument("--probe-version", default="", help="server version to announce in probe mode")
    ap.add_argument("--probe-tablet", action="append", default=[], metavar="KEYSPACE=SOCKET",
                    help="the unix socket of a primary tablet's MariaDB, per keyspace (probe mode)")
    args = ap.parse_args()
    probe = None
    if args.probe:
        probe = Probe(args.probe_version, dict(t.split("=", 1) for t in args.probe_tablet))
    lhost, lport = args.listen.rsplit(":", 1)
    uhost, uport = args.upstream.rsplit(":", 1)
    out = open(args.log, "a", buffering=1)

    def log(rec):
        out.write(json.dumps(rec) + "\n")

    counter = [0]

    async def handle(creader, cwriter):
        counter[0] += 1
        conn = Conn(counter[0], log, probe)
        try:
            sreader, swriter = await asyncio.open_connection(uhost, int(uport))
        except OSError as e:
            conn.emit({"cmd": "CONNECT", "result": "err", "msg": "proxy cannot reach the gateway: %s" % e})
            cwriter.close()
            return
        t1 = asyncio.ensure_future(pipe(creader, swriter, conn.client_bytes))
        t2 = asyncio.ensure_future(pipe(sreader, cwriter, conn.server_bytes, transform=probe is not None))
        done, _ = await asyncio.wait([t1, t2], return_when=asyncio.FIRST_COMPLETED)
        conn.closed("server" if t2 in done else "client")
        await asyncio.wait([t1, t2])

    server = await asyncio.start_server(handle, lhost, int(lport), reuse_address=True)
    print("wirelog listening on %s -> %s" % (args.listen, args.upstream), file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
