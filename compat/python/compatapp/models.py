"""The small Django app of the compatibility suite.

Note lives in the unsharded keyspace (created by this app's migration); Order is mapped to
`compat_dj_order`, a table of the sharded keyspace (hash vindex on id, ids from the sequence
`compat_dj_order_seq`), created by scripts/compat.sh through ApplySchema, so unmanaged here.
"""

from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=100, unique=True)
    body = models.TextField(blank=True)
    score = models.IntegerField(default=0)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    created = models.DateTimeField(auto_now_add=True)
    tag = models.ForeignKey("Tag", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        indexes = [models.Index(fields=["score"], name="compatapp_note_score_idx")]


class Tag(models.Model):
    name = models.CharField(max_length=50)


class Order(models.Model):
    id = models.BigAutoField(primary_key=True)
    customer_id = models.BigIntegerField()
    item = models.CharField(max_length=100)
    qty = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    created = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "compat_dj_order"
