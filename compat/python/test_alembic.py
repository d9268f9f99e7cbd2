"""Alembic autogenerate against the unsharded keyspace (default `mysql+pymysql://` URL): an
empty database gives exactly a create_table; after upgrading, a changed model gives exactly
add_table, add_column and add_index; after upgrading again, nothing."""

import os
import tempfile

import alembic
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from conftest import HOST, PASSWORD, PORT, UNSHARDED, USER

CLIENT = "Alembic %s" % alembic.__version__
URL = "mysql+pymysql://%s:%s@%s:%d/%s" % (USER, PASSWORD, HOST, PORT, UNSHARDED)

ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine

config = context.config
target_metadata = config.attributes["target_metadata"]


def include_name(name, type_, parent_names):
    if type_ == "table":
        return name.startswith("alembic_compat_")
    return True


def capture(context, revision, directives):
    config.attributes["diffs"] = directives[0].upgrade_ops.as_diffs()


engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        process_revision_directives=capture,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''


def metadata_v1():
    md = sa.MetaData()
    sa.Table("alembic_compat_a", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50), nullable=False))
    return md


def metadata_v2():
    md = sa.MetaData()
    sa.Table(
        "alembic_compat_a",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("email", sa.String(100)),
        sa.Index("ix_alembic_compat_a_name", "name"),
    )
    sa.Table(
        "alembic_compat_b",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a_id", sa.Integer, sa.ForeignKey("alembic_compat_a.id")),
        sa.Column("note", sa.Text),
    )
    return md


def summary(diffs):
    out = []
    for d in diffs:
        if isinstance(d, list):  # modify_* come as lists of tuples
            out.extend((x[0], x[3], x[2]) for x in d)
        elif d[0] in ("add_table", "remove_table"):
            out.append((d[0], d[1].name))
        elif d[0] in ("add_column", "remove_column"):
            out.append((d[0], d[2], d[3].name))
        elif d[0] in ("add_index", "remove_index"):
            out.append((d[0], d[1].name))
        else:
            out.append((d[0], repr(d[1:])[:200]))
    return sorted(out)


def test_autogenerate_unsharded():
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        for t in ("alembic_compat_b", "alembic_compat_a", "alembic_version"):
            conn.execute(sa.text("DROP TABLE IF EXISTS %s" % t))
    engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(os.path.join(tmp, "alembic.ini"))
        script_dir = os.path.join(tmp, "migrations")
        cfg.set_main_option("script_location", script_dir)
        cfg.set_main_option("sqlalchemy.url", URL.replace("%", "%%"))
        command.init(cfg, script_dir)
        with open(os.path.join(script_dir, "env.py"), "w") as f:
            f.write(ENV_PY)

        cfg.attributes["target_metadata"] = metadata_v1()
        command.revision(cfg, message="one", autogenerate=True)
        assert summary(cfg.attributes["diffs"]) == [("add_table", "alembic_compat_a")]
        command.upgrade(cfg, "head")

        cfg.attributes["target_metadata"] = metadata_v2()
        command.revision(cfg, message="two", autogenerate=True)
        assert summary(cfg.attributes["diffs"]) == [
            ("add_column", "alembic_compat_a", "email"),
            ("add_index", "ix_alembic_compat_a_name"),
            ("add_table", "alembic_compat_b"),
        ], cfg.attributes["diffs"]
        command.upgrade(cfg, "head")

        command.revision(cfg, message="three", autogenerate=True)
        assert summary(cfg.attributes["diffs"]) == [], cfg.attributes["diffs"]
