"""Alembic environment: runs migrations on the engine handed over by ``catalog.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from synsetlab.catalog import Base  # every table, the challenge server's included

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # the alembic CLI, e.g. `alembic revision --autogenerate`
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
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
