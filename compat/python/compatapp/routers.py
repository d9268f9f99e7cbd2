class Router:
    """Order goes to the sharded keyspace's connection; everything else to the unsharded one,
    where all migrations run."""

    def db_for_read(self, model, **hints):
        return "sharded" if model._meta.model_name == "order" else "default"

    db_for_write = db_for_read

    def allow_relation(self, a, b, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
