"""Django 5.2 with its MySQL backend (mysqlclient) and default options: `migrate` of the
built-in apps and of a small app into the unsharded keyspace, then ORM work on an unsharded
table (Note) and on a sharded one (Order, table compat_dj_order in the sharded keyspace)."""

import datetime
import decimal

import django
from django.conf import settings

from conftest import HOST, PASSWORD, PORT, SHARDED, UNSHARDED, USER


def db(name):
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": name,
        "HOST": HOST,
        "PORT": str(PORT),
        "USER": USER,
        "PASSWORD": PASSWORD,
    }


settings.configure(
    DEBUG=False,
    SECRET_KEY="compat-suite",
    USE_TZ=True,
    DATABASES={"default": db(UNSHARDED), "sharded": db(SHARDED)},
    DATABASE_ROUTERS=["compatapp.routers.Router"],
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "compatapp",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
)
django.setup()

import pytest  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.db.models import Avg, Count, F, Max, Sum  # noqa: E402

from compatapp.models import Note, Order, Tag  # noqa: E402

CLIENT = "Django %s" % django.get_version()


@pytest.fixture(autouse=True)
def fresh_connections():
    # a case that failed mid-transaction must not leave the next one a broken connection
    yield
    for conn in connections.all():
        conn.close()


def test_connect():
    with connections["default"].cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_migrate_builtin_apps():
    for app in ["contenttypes", "auth", "sessions", "admin"]:
        call_command("migrate", app, verbosity=0, interactive=False)
    executor = MigrationExecutor(connections["default"])
    leaves = [n for n in executor.loader.graph.leaf_nodes() if n[0] in ("contenttypes", "auth", "sessions", "admin")]
    assert executor.migration_plan(leaves) == []


def test_migrate_app():
    call_command("migrate", "compatapp", verbosity=0, interactive=False)
    executor = MigrationExecutor(connections["default"])
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    tables = connections["default"].introspection.table_names()
    assert "compatapp_note" in tables and "compatapp_tag" in tables, tables


def test_auth_user_and_session():
    from django.contrib.auth import authenticate
    from django.contrib.auth.models import Permission, User
    from django.contrib.sessions.backends.db import SessionStore

    assert Permission.objects.filter(codename="add_note").exists()
    User.objects.filter(username="compat").delete()
    user = User.objects.create_user("compat", "compat@example.com", "s3cret-pass")
    assert authenticate(username="compat", password="s3cret-pass") == user
    store = SessionStore()
    store["user"] = user.pk
    store.create()
    assert SessionStore(session_key=store.session_key).load()["user"] == user.pk


def test_orm_crud_unsharded():
    Note.objects.all().delete()
    tag = Tag.objects.create(name="t")
    a = Note.objects.create(title="a", body="first 'quoted' \\ body", score=1, price=decimal.Decimal("1.10"), tag=tag)
    Note.objects.bulk_create([Note(title="b", score=2), Note(title="c", score=3)])
    assert a.pk is not None
    assert Note.objects.get(pk=a.pk).body == "first 'quoted' \\ body"
    assert list(Note.objects.filter(score__gte=2).order_by("title").values_list("title", flat=True)) == ["b", "c"]
    assert Note.objects.filter(tag__name="t").count() == 1
    note, created = Note.objects.get_or_create(title="d", defaults={"score": 4})
    assert created and Note.objects.get_or_create(title="d")[1] is False
    a.score = 10
    a.save()
    assert Note.objects.filter(score__gt=2).update(price=F("price") + 1) == 3
    assert Note.objects.get(title="c").price == decimal.Decimal("1.00")
    assert Note.objects.filter(title="b").delete()[0] == 1
    assert sorted(Note.objects.values_list("title", flat=True)) == ["a", "c", "d"]


def test_orm_aggregate_unsharded():
    Note.objects.all().delete()
    Note.objects.bulk_create([Note(title="n%d" % i, score=i, price=decimal.Decimal(i)) for i in range(1, 6)])
    agg = Note.objects.aggregate(n=Count("id"), s=Sum("score"), a=Avg("score"), m=Max("price"))
    assert agg == {"n": 5, "s": 15, "a": 3.0, "m": decimal.Decimal("5.00")}, agg
    by = list(Note.objects.values("score").annotate(c=Count("id")).order_by("-score")[:2])
    assert by == [{"score": 5, "c": 1}, {"score": 4, "c": 1}]


def test_atomic_unsharded():
    Note.objects.filter(title__startswith="tx").delete()
    with transaction.atomic():
        Note.objects.create(title="tx-commit")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Note.objects.create(title="tx-rollback")
            raise RuntimeError("roll back")
    assert list(Note.objects.filter(title__startswith="tx").values_list("title", flat=True)) == ["tx-commit"]


def test_atomic_savepoint_unsharded():
    Note.objects.filter(title__startswith="sp").delete()
    with transaction.atomic():
        Note.objects.create(title="sp-outer")
        try:
            with transaction.atomic():
                Note.objects.create(title="sp-inner")
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass
    assert list(Note.objects.filter(title__startswith="sp").values_list("title", flat=True)) == ["sp-outer"]


NOW = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)


def test_orm_crud_sharded():
    Order.objects.filter(item__startswith="dj-").delete()
    o = Order.objects.create(customer_id=1, item="dj-a", qty=1, price=decimal.Decimal("9.99"), created=NOW)
    assert o.pk is not None and o.pk > 0
    objs = [Order(customer_id=c, item="dj-%d" % c, qty=c, price=decimal.Decimal(c), created=NOW) for c in range(2, 7)]
    for obj in objs:
        obj.save()
    got = Order.objects.get(pk=o.pk)
    assert (got.item, got.price, got.created) == ("dj-a", decimal.Decimal("9.99"), NOW)
    assert Order.objects.filter(pk__in=[objs[0].pk, objs[1].pk]).count() == 2
    assert list(Order.objects.filter(item__startswith="dj-", qty__gte=5).order_by("-qty").values_list("qty", flat=True)) == [6, 5]
    got.qty = 100
    got.save()
    assert Order.objects.get(pk=o.pk).qty == 100
    assert Order.objects.filter(item__startswith="dj-", qty__lt=4).update(qty=F("qty") + 10) == 2
    assert Order.objects.filter(pk=objs[-1].pk).delete()[0] == 1
    assert Order.objects.filter(item__startswith="dj-").count() == 5


def test_orm_aggregate_sharded():
    Order.objects.filter(item__startswith="agg-").delete()
    for c in range(1, 7):
        Order.objects.create(customer_id=c % 3, item="agg-%d" % c, qty=c, price=decimal.Decimal("%d.50" % c), created=NOW)
    agg = Order.objects.filter(item__startswith="agg-").aggregate(n=Count("id"), s=Sum("qty"), a=Avg("qty"), m=Max("price"))
    assert agg == {"n": 6, "s": 21, "a": 3.5, "m": decimal.Decimal("6.50")}, agg
    by = list(Order.objects.filter(item__startswith="agg-").values("customer_id").annotate(s=Sum("qty")).order_by("customer_id"))
    assert by == [{"customer_id": 0, "s": 9}, {"customer_id": 1, "s": 5}, {"customer_id": 2, "s": 7}], by


def test_atomic_sharded():
    Order.objects.filter(item__startswith="tx-").delete()
    with transaction.atomic(using="sharded"):
        for c in range(3):
            Order.objects.create(customer_id=c, item="tx-commit", qty=c, price=1, created=NOW)
    with pytest.raises(RuntimeError):
        with transaction.atomic(using="sharded"):
            for c in range(3):
                Order.objects.create(customer_id=c, item="tx-rollback", qty=c, price=1, created=NOW)
            raise RuntimeError("roll back")
    assert Order.objects.filter(item="tx-commit").count() == 3
    assert Order.objects.filter(item="tx-rollback").count() == 0
