"""Jurisdictions: the codes a node may have under its parent, paths and cycles, the migration that
puts an existing deployment at the root, and the Scope's filters on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from central.auth import AccountError, Accounts, Role
from central.regions import (
    ROOT,
    WHOLE,
    RegionError,
    code_problem,
    paths_of,
    scope_of,
    site_region,
)
from central.schema import regions, sites, users
from central.store import MIGRATIONS, Store
from tests.central.conftest import KEY

CODES = [  # (code, parent, fine)
    ("42", ROOT, True),
    ("4201", "42", True),
    ("420102", "4201", True),
    ("420102001", "420102", True),
    ("420102001003", "420102001", True),
    ("hotel-3", "420102", True),  # a deployment's own code below a county
    ("gate-1", "hotel-3", True),
    ("429004", "42", True),  # a county straight under its province (省直辖)
    ("4202", "42", True),
    ("4301", "42", False),  # not its province's
    ("42010", "4201", False),  # 5 digits: no level
    ("420102", "420102", False),  # not longer than its parent
    ("hotel-3", ROOT, False),  # own codes stand below a county
    ("hotel-3", "4201", False),
    ("420102001", "hotel-3", False),  # no division code below an own code
    ("0", ROOT, False),
    ("", ROOT, False),
    ("42%", ROOT, False),
    ("a_b", "420102", False),  # no LIKE wildcards, nothing that breaks a file name
    ("x" * 21, "420102", False),
]


@pytest.mark.parametrize(("code", "parent", "fine"), CODES)
def test_a_code_stands_only_under_a_parent_it_fits(code: str, parent: str, fine: bool) -> None:
    assert (code_problem(code, parent) is None) is fine, code_problem(code, parent)


def test_paths_run_from_the_root_and_a_cycle_has_none() -> None:
    paths = paths_of({"42": ROOT, "4201": "42", "420102": "4201", "a": "b", "b": "a", "c": "a", "d": "missing"})
    assert paths["420102"] == "0/42/4201/420102/"
    assert not {"a", "b", "c", "d"} & set(paths)


def _at(store: Store, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_the_migration_puts_existing_sites_and_users_at_the_root(request: pytest.FixtureRequest,
                                                                 tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'old.sqlite'}", request.getfixturevalue("pg_url")):
        store = Store(url)
        _at(store, "0005")
        with store.engine.begin() as conn:  # a single-office deployment from before jurisdictions
            conn.exec_driver_sql(
                "INSERT INTO devices (device, site, kind, key_hex, revoked, registered_at) "
                f"VALUES ('box-1', 'g312-k45', 'traffic', '{KEY.hex()}', false, CURRENT_TIMESTAMP)")
            conn.exec_driver_sql(
                "INSERT INTO users (username, role, password_hash, disabled, created_at) "
                "VALUES ('old-admin', 'admin', 'x', false, CURRENT_TIMESTAMP)")
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.execute(select(sites.c.site, sites.c.region)).all() == [("g312-k45", ROOT)]
            assert conn.scalar(select(users.c.region).where(users.c.username == "old-admin")) == ROOT
            assert scope_of(conn, ROOT) == WHOLE
        store.dispose()


def add_tree(store: Store) -> None:
    """A province, a city, two counties, a township with a community."""
    nodes = [("42", "示例省", ROOT), ("4201", "示例市", "42"), ("420102", "东湖县", "4201"),
             ("420103", "西山县", "4201"), ("420102001", "新华街道", "420102"),
             ("420102001003", "幸福社区", "420102001")]
    parents = {code: parent for code, _name, parent in nodes}
    paths = paths_of(parents)
    with store.engine.begin() as conn:
        conn.execute(regions.insert(), [dict(code=c, name=n, parent=p, path=paths[c]) for c, n, p in nodes])


def test_the_scope_sees_its_subtree_only(store: Store) -> None:
    add_tree(store)
    for device, site, region in (("box-e", "east-1", "420102"), ("box-t", "town-1", "420102001"),
                                 ("box-w", "west-1", "420103")):
        store.register_device(device, site, "traffic", KEY.hex(), region=region)
    with store.engine.connect() as conn:
        county, town, west = (scope_of(conn, c) for c in ("420102", "420102001", "420103"))

        def seen(scope: object) -> list[str]:
            return list(conn.scalars(select(sites.c.site).where(scope.site_in(sites.c.site))  # type: ignore[attr-defined]
                                     .order_by(sites.c.site)))

        assert seen(county) == ["east-1", "town-1"]
        assert seen(town) == ["town-1"]
        assert seen(west) == ["west-1"]
        assert seen(WHOLE) == ["east-1", "site-a", "town-1", "west-1"]
        assert set(conn.scalars(county.regions())) == {"420102", "420102001", "420102001003"}
        assert site_region(conn, county, "town-1") == "420102001"
        with pytest.raises(RegionError, match="no site"):
            site_region(conn, town, "east-1")


def test_an_admin_registers_boxes_only_inside_their_subtree(store: Store) -> None:
    add_tree(store)
    store.register_device("box-w", "west-1", "traffic", KEY.hex(), region="420103")
    with store.engine.connect() as conn:
        county = scope_of(conn, "420102")
    store.register_device("box-e", "east-2", "traffic", KEY.hex(), scope=county)  # a new site: at their node
    store.register_device("box-e", "east-2", "traffic", KEY.hex(), region="420102001", scope=county)  # moved down
    with store.engine.connect() as conn:
        assert site_region(conn, county, "east-2") == "420102001"
    refused = [
        dict(device="box-w", site="east-2"),  # someone else's box
        dict(device="box-n", site="west-1"),  # someone else's checkpoint
        dict(device="box-n", site="east-3", region="420103"),  # someone else's node
        dict(device="box-n", site="east-3", region="42"),  # the node above
    ]
    for attempt in refused:
        with pytest.raises(RegionError, match="^no "):
            store.register_device(kind="traffic", key_hex=KEY.hex(), scope=county, **attempt)  # type: ignore[arg-type]
    assert not store.revoke_device("box-w", county)
    assert store.revoke_device("box-e", county)


def test_users_stand_at_a_node_and_their_session_carries_its_scope(store: Store) -> None:
    add_tree(store)
    accounts = Accounts(store.engine)
    accounts.add("county-op", "a-long-password", Role.OPERATOR, region="420102")
    with pytest.raises(AccountError, match="no region"):
        accounts.add("lost", "a-long-password", Role.VIEWER, region="999999")
    found = accounts.login("county-op", "a-long-password")
    assert found is not None
    token, session = found
    assert session.scope.code == "420102" and accounts.session(token) == session
    accounts.set_region("county-op", "420102001")
    assert accounts.session(token) is None  # the old scope's session ended
    with store.engine.connect() as conn:
        town = scope_of(conn, "420102001")
    assert [u["username"] for u in accounts.list(town)] == ["county-op"]
    assert {u["username"] for u in accounts.list(WHOLE)} == {"county-op"}
