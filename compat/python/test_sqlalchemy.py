"""SQLAlchemy 2 with its defaults, through four URLs: the default `mysql+pymysql://`, the
`mariadb+pymysql://` dialect, and the mysqldb (mysqlclient) and mysqlconnector drivers.
Each connects, runs `create_all` in the unsharded keyspace, inspects tables/columns/indexes in
both keyspaces, and does ORM CRUD and transactions on an unsharded and a sharded table."""

import decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import ForeignKey, String, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER

CLIENT = "SQLAlchemy %s" % sa.__version__

URLS = {
    "mysql+pymysql": "pymysql",
    "mariadb+pymysql": "mdbpymysql",
    "mysql+mysqldb": "mysqldb",
    "mysql+mysqlconnector": "connector",
}


def url(scheme, db):
    return "%s://%s:%s@%s:%d/%s" % (scheme, USER, PASSWORD, HOST, PORT, db)


def models(tag):
    """Per-URL declarative models, so the four runs never share a table in the unsharded
    keyspace; SaItem maps the sharded keyspace's compat_sa_item (hash vindex on id, ids from
    the sequence compat_sa_item_seq)."""

    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = "sa_%s_author" % tag
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), index=True)
        email: Mapped[str | None] = mapped_column(String(100), unique=True)
        books: Mapped[list["Book"]] = relationship(back_populates="author", cascade="all, delete-orphan")

    class Book(Base):
        __tablename__ = "sa_%s_book" % tag
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey(Author.id))
        title: Mapped[str] = mapped_column(String(200))
        price: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(10, 2))
        author: Mapped[Author] = relationship(back_populates="books")

    class ShardedBase(DeclarativeBase):
        pass

    class SaItem(ShardedBase):
        __tablename__ = "compat_sa_item"
        id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
        driver: Mapped[str] = mapped_column(String(40))
        name: Mapped[str] = mapped_column(String(100))
        qty: Mapped[int]

    return Base, Author, Book, SaItem


PARAMS = pytest.mark.parametrize("scheme", list(URLS))


@PARAMS
def test_connect(scheme):
    engine = sa.create_engine(url(scheme, UNSHARDED))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    engine.dispose()


@PARAMS
def test_create_all_unsharded(scheme):
    Base, *_ = models(URLS[scheme])
    engine = sa.create_engine(url(scheme, UNSHARDED))
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    Base.metadata.create_all(engine)  # a second run finds the tables and creates nothing
    engine.dispose()


@PARAMS
def test_inspect_unsharded(scheme):
    tag = URLS[scheme]
    Base, *_ = models(tag)
    engine = sa.create_engine(url(scheme, UNSHARDED))
    Base.metadata.create_all(engine)
    insp = sa.inspect(engine)
    tables = insp.get_table_names()
    assert {"sa_%s_author" % tag, "sa_%s_book" % tag, "product"} <= set(tables), tables
    cols = {c["name"]: c for c in insp.get_columns("sa_%s_book" % tag)}
    assert list(cols) == ["id", "author_id", "title", "price"], cols
    assert isinstance(cols["price"]["type"], sa.Numeric) and cols["price"]["type"].scale == 2
    assert cols["id"]["autoincrement"] is True
    idx = {i["name"]: i for i in insp.get_indexes("sa_%s_author" % tag)}
    assert idx["ix_sa_%s_author_name" % tag]["column_names"] == ["name"], idx
    assert insp.get_pk_constraint("sa_%s_book" % tag)["constrained_columns"] == ["id"]
    fks = insp.get_foreign_keys("sa_%s_book" % tag)
    assert [(f["constrained_columns"], f["referred_table"]) for f in fks] == [(["author_id"], "sa_%s_author" % tag)], fks
    assert [u["column_names"] for u in insp.get_unique_constraints("sa_%s_author" % tag)] == [["email"]]
    engine.dispose()


@PARAMS
def test_inspect_sharded(scheme):
    engine = sa.create_engine(url(scheme, SHARDED))
    insp = sa.inspect(engine)
    tables = insp.get_table_names()
    assert {"compat_sa_item", "customer", "corder"} <= set(tables), tables
    cols = [c["name"] for c in insp.get_columns("compat_sa_item")]
    assert cols == ["id", "driver", "name", "qty"], cols
    idx = {i["name"]: i["column_names"] for i in insp.get_indexes("compat_sa_item")}
    assert idx == {"ix_compat_sa_item_driver": ["driver"]}, idx
    assert insp.get_pk_constraint("compat_sa_item")["constrained_columns"] == ["id"]
    engine.dispose()


@PARAMS
def test_orm_crud_unsharded(scheme):
    Base, Author, Book, _ = models(URLS[scheme])
    engine = sa.create_engine(url(scheme, UNSHARDED))
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.execute(sa.delete(Book))
        s.execute(sa.delete(Author))
        s.commit()
        ann = Author(name="Ann", email="ann@example.com", books=[Book(title="A1", price=decimal.Decimal("10.50")), Book(title="A2", price=decimal.Decimal("3"))])
        bob = Author(name="Bob", email=None, books=[Book(title="B's 'quoted' \\ title", price=decimal.Decimal("1.25"))])
        s.add_all([ann, bob])
        s.commit()
        assert ann.id and bob.id
        got = s.scalars(select(Book).join(Author).where(Author.name == "Ann").order_by(Book.title)).all()
        assert [b.title for b in got] == ["A1", "A2"]
        assert s.get(Author, bob.id).books[0].title == "B's 'quoted' \\ title"
        rows = s.execute(select(Author.name, func.count(Book.id), func.sum(Book.price)).join(Book).group_by(Author.name).order_by(Author.name)).all()
        assert [tuple(r) for r in rows] == [("Ann", 2, decimal.Decimal("13.50")), ("Bob", 1, decimal.Decimal("1.25"))], rows
        ann.name = "Anne"
        s.commit()
        s.execute(update(Book).where(Book.price < 5).values(price=Book.price * 2))
        s.delete(bob)
        s.commit()
        assert s.scalars(select(Author.name)).all() == ["Anne"]
        assert sorted(s.scalars(select(Book.price)).all()) == [decimal.Decimal("6.00"), decimal.Decimal("10.50")]
    engine.dispose()


@PARAMS
def test_transactions_unsharded(scheme):
    Base, Author, Book, _ = models(URLS[scheme])
    engine = sa.create_engine(url(scheme, UNSHARDED))
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.execute(sa.delete(Book))
        s.execute(sa.delete(Author))
        s.commit()
        with s.begin():
            s.add(Author(name="kept"))
        s.begin()
        s.add(Author(name="rolled back"))
        s.flush()
        s.rollback()
        assert s.scalars(select(Author.name)).all() == ["kept"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sa_%s_author SET name = 'kept2'" % URLS[scheme]))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM sa_%s_author" % URLS[scheme])).scalar() == "kept2"
    engine.dispose()


@PARAMS
def test_orm_crud_sharded(scheme):
    tag = URLS[scheme]
    *_, SaItem = models(tag)
    engine = sa.create_engine(url(scheme, SHARDED))
    with Session(engine) as s:
        s.execute(sa.delete(SaItem).where(SaItem.driver == tag))
        s.commit()
        items = [SaItem(driver=tag, name="item %d" % i, qty=i) for i in range(1, 7)]
        s.add_all(items)
        s.commit()
        ids = [i.id for i in items]
        assert all(ids) and len(set(ids)) == 6, ids
        assert s.get(SaItem, ids[2]).name == "item 3"
        got = s.scalars(select(SaItem).where(SaItem.driver == tag).order_by(SaItem.qty.desc()).limit(2)).all()
        assert [i.qty for i in got] == [6, 5]
        assert s.scalar(select(func.count()).select_from(SaItem).where(SaItem.driver == tag)) == 6
        assert s.scalar(select(func.sum(SaItem.qty)).where(SaItem.driver == tag)) == 21
        items[0].name = "renamed"
        s.commit()
        s.execute(update(SaItem).where(SaItem.driver == tag, SaItem.qty > 4).values(qty=SaItem.qty + 10))
        s.delete(items[1])
        s.commit()
        assert s.scalar(select(SaItem.name).where(SaItem.id == ids[0])) == "renamed"
        assert sorted(s.scalars(select(SaItem.qty).where(SaItem.driver == tag)).all()) == [1, 3, 4, 15, 16]
    engine.dispose()


@PARAMS
def test_transactions_sharded(scheme):
    tag = URLS[scheme] + "-tx"
    *_, SaItem = models(URLS[scheme])
    engine = sa.create_engine(url(scheme, SHARDED))
    with Session(engine) as s:
        s.execute(sa.delete(SaItem).where(SaItem.driver == tag))
        s.commit()
        with s.begin():
            s.add_all([SaItem(driver=tag, name="kept %d" % i, qty=i) for i in range(4)])
        s.begin()
        s.add_all([SaItem(driver=tag, name="gone %d" % i, qty=i) for i in range(4)])
        s.flush()
        s.rollback()
        assert sorted(s.scalars(select(SaItem.name).where(SaItem.driver == tag)).all()) == ["kept %d" % i for i in range(4)]
    engine.dispose()
