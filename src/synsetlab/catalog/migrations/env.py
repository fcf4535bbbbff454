"""Alembic environment: runs migrations on the engine handed over by ``catalog.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from synsetlab.catalog import Base  # every table, the challenge server's included

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # the alembic CLI, e.g. `alembic revision --autogenerate`
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            _run(connection)
        return
    # Python's sqlite3 commits before each DDL statement it sees outside a transaction, so a
    # migration that a later step refuses would stay half applied. Driving BEGIN and COMMIT
    # ourselves makes the whole run one transaction on SQLite too (SQLite's DDL is
    # transactional; only the driver was not).
    # Batch mode rebuilds a table (copy, DROP, rename): with foreign keys on (the catalog's
    # engine turns them on), the DROP would cascade and delete every child row, votes of a
    # rebuilt annotation_items included. SQLite ignores the pragma inside a transaction, so it
    # goes off before BEGIN, and the keys are checked before COMMIT instead.
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            connection.exec_driver_sql("BEGIN")
            try:
                _run(connection)
                _check_foreign_keys(connection)
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        finally:
            # The connection goes back to the pool: as the engine made it.
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(
            f"the migration would leave {len(broken)} row(s) pointing at nothing (e.g. in "
            f"table {broken[0][0]!r}); nothing was changed"
        )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them on a database")
run_migrations_online()
