"""A build into a new PostgreSQL index makes the tables' keys after the rows (``loading.deferred_keys``);
a rebuild keeps them, so that readers of the old index never wait for it. Each case watches the build
from a second connection while its transaction is open, half-way through the second pass."""
import pytest
import sqlalchemy as sa

from hashsearch import Searcher
from hashsearch.api import streaming
from hashsearch.store.schema import documents_table, lookup_table, snippets_table
from hashsearch.store.storage import database_url
from tests.conftest import FAST, make_database

pytestmark = pytest.mark.slow  # a PostgreSQL server
TABLES = (documents_table, lookup_table, snippets_table)


class Watched(list):
    """Records that call ``watch`` once, on their second reading (a build's storing pass), after
    ``after`` of them have been read."""

    def __init__(self, records, watch, after):
        super().__init__(records)
        self.readings, self.watch, self.after = 0, watch, after

    def __iter__(self):
        self.readings += 1
        for number, record in enumerate(super().__iter__()):
            if self.readings == 2 and number == self.after:
                self.watch()
            yield record


def keys(url):
    """{table: (its primary key's name, its index names)} as the server has them now."""
    engine = sa.create_engine(database_url(url))
    with engine.connect() as conn:
        found = {table.name: (
            conn.execute(sa.text("SELECT conname FROM pg_constraint WHERE contype = 'p' AND "
                                 "conrelid = CAST(:t AS regclass)"), {"t": table.name}).scalar(),
            sorted(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t AND "
                                        "schemaname = current_schema()"), {"t": table.name}).scalars()))
            for table in TABLES}
    engine.dispose()
    return found


def snippets_read_without_waiting(url):
    """How many snippet rows a reader sees, or None when it would wait for the build's lock."""
    engine = sa.create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SET lock_timeout = '500ms'"))
            return conn.execute(sa.select(sa.func.count()).select_from(snippets_table)).scalar()
    except sa.exc.OperationalError:  # lock_timeout: the table is locked by the build
        return None
    finally:
        engine.dispose()


def empty_tables(url):
    """Delete every row of the document tables: the index is new again, with its tables and keys."""
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(sa.delete(table))
    engine.dispose()


@pytest.fixture()
def pg_db(tmp_path):
    return make_database("postgresql", tmp_path)


def test_a_new_index_gets_its_keys_after_its_rows(pg_db, sample_docs, monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_DOCUMENTS", 64)  # rows stored before the watch
    Searcher.build(sample_docs[:5], pg_db, bits=32, **FAST).close()  # the tables and keys as a build makes them
    made = keys(pg_db)
    assert all(name for name, _ in made.values()) and made["hashsearch_documents"][1]  # a key, the added_at index
    empty_tables(pg_db)  # back to a new, empty index
    seen = {}
    source = Watched(sample_docs, lambda: seen.update(during=snippets_read_without_waiting(pg_db)), after=200)
    with Searcher.build(source, pg_db, bits=32, **FAST) as searcher:
        assert seen["during"] is None  # the keys were dropped: the tables locked until the commit
        assert keys(pg_db) == made  # and made again, with their names
        assert searcher.search("space shuttle launch", k=3)
        assert searcher.get([sample_docs[7]["id"]])[0].id == sample_docs[7]["id"]
        assert searcher.info()["documents"] == len(sample_docs)


def test_a_rebuild_keeps_its_keys_and_readers_see_the_old_index_meanwhile(pg_db, sample_docs, monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_DOCUMENTS", 64)
    Searcher.build(sample_docs[:50], pg_db, bits=32, **FAST).close()
    made, seen = keys(pg_db), {}
    source = Watched(sample_docs, lambda: seen.update(during=snippets_read_without_waiting(pg_db),
                                                      keys=keys(pg_db)), after=200)
    Searcher.build(source, pg_db, bits=32, **FAST).close()
    assert seen == {"during": 50, "keys": made}
    assert keys(pg_db) == made


def test_a_new_index_whose_build_fails_keeps_its_keys_and_builds_later(pg_db, sample_docs, monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_DOCUMENTS", 64)
    Searcher.build(sample_docs[:5], pg_db, bits=32, **FAST).close()
    made = keys(pg_db)
    empty_tables(pg_db)

    def fail():
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        Searcher.build(Watched(sample_docs, fail, after=200), pg_db, bits=32, **FAST)
    assert keys(pg_db) == made
    with Searcher.build(sample_docs, pg_db, bits=32, **FAST) as searcher:
        assert searcher.info()["documents"] == len(sample_docs)
    assert keys(pg_db) == made
