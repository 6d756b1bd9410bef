"""Jurisdictions: the codes a node may have under its parent, paths and cycles, the migration that
puts an existing deployment at the root, and the Scope's filters on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from openpyxl import Workbook
from sqlalchemy import func, select

from central.auth import AccountError, Accounts, Role
from central.regions import (
    ROOT,
    SAMPLE,
    WHOLE,
    Imported,
    RegionError,
    Scope,
    code_problem,
    load_tree,
    paths_of,
    scope_of,
    site_region,
    tree,
)
from central.schema import regions, sites, users
from central.sheets import BadLines
from central.store import MIGRATIONS, Store
from tests.central.conftest import KEY, Server

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


# loading the tree


def _load(store: Store, data: bytes, scope: Scope = WHOLE, progress: Any = None, reading: Any = None) -> Imported:
    with store.engine.begin() as conn:
        return load_tree(conn, scope, data, progress or (lambda _done, _total: None),
                         reading or (lambda _done, _total: None))


def _codes(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(regions.c.code, regions.c.path)).all())  # type: ignore[arg-type]


def test_the_sample_tree_loads_once_and_again_changes_nothing(store: Store) -> None:
    assert _load(store, SAMPLE.read_bytes()) == Imported(added=15, changed=0, unchanged=0)
    assert _load(store, SAMPLE.read_bytes()) == Imported(added=0, changed=0, unchanged=15)
    paths = _codes(store)
    assert paths["390102001001"] == "0/39/3901/390102/390102001/390102001001/"
    assert paths["390102-H1"] == "0/39/3901/390102/390102-H1/"
    with store.engine.connect() as conn:
        assert [n.code for n in tree(conn, scope_of(conn, "390103"))] == ["390103", "390103001", "390103001001"]


def test_an_xlsx_table_with_chinese_headers_loads(sqlite_store: Store) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["区划代码", "区划名称", "上级代码"], [39, "示例省", None], [3901, "示例市", 39],
                [390102, "东湖县", 3901], [390102001, "新华街道", 390102], [390102001001, "幸福社区", 390102001]):
        sheet.append(row)  # numbers, as a spreadsheet keeps codes typed in
    out = io.BytesIO()
    book.save(out)
    assert _load(sqlite_store, out.getvalue()).added == 5
    assert _codes(sqlite_store)["390102001001"] == "0/39/3901/390102/390102001/390102001001/"


BAD = """code,name,parent
39,示例省,
3901,示例市,39
3901,示例市二,39
4201,外省市,39
390102-A,自编码,3901
,无代码,
390102,,3901
390103,西山县,3901
390104001,南岭镇,390104
390102,东湖县,3901
"""


def test_every_bad_line_is_reported_and_nothing_is_imported(store: Store) -> None:
    with pytest.raises(BadLines) as refused:
        _load(store, BAD.encode())
    lines = dict(refused.value.errors)
    assert sorted(lines) == [4, 5, 6, 7, 8, 10]
    assert "the same as line 3" in lines[4]
    assert "does not begin with its parent's code 39" in lines[5]
    assert "stands below a county" in lines[6]
    assert lines[7] == "no code" and "name" in lines[8]
    assert "parent 390104: neither in the file nor in the tree" in lines[10]
    assert set(_codes(store)) == {ROOT}  # nothing half-imported


def test_a_table_that_is_not_one_is_refused_whole(store: Store) -> None:
    for data, words in ((b"\x00\x01\x02binary" * 50, "not a spreadsheet"), (b"", "empty"),
                        (b"code,title\n39,x\n", "no column name"), (b"PK\x03\x04broken zip", "not an XLSX"),
                        (b"code,name,parent\n", "no nodes")):
        with pytest.raises(RegionError, match=words):
            _load(store, data)


def test_a_move_carries_the_subtree_and_a_cycle_is_refused(store: Store) -> None:
    _load(store, SAMPLE.read_bytes())
    store.register_device("box-t", "town-1", "traffic", KEY.hex(), region="390102001001")
    moved = _load(store, "代码,名称,上级代码\n390102-H1,东湖黄码宾馆,390102001\n".encode())
    assert moved == Imported(added=0, changed=1, unchanged=0)
    assert _codes(store)["390102-H1"] == "0/39/3901/390102/390102001/390102-H1/"
    with pytest.raises(BadLines, match="2 bad lines") as refused:  # a node under its own child
        _load(store, "代码,名称,上级代码\n390102-H1,宾馆,390102-H2\n390102-H2,宾馆二,390102-H1\n".encode())
    assert refused.value.errors == [(2, "390102-H1: its parents run in a circle"),
                                    (3, "390102-H2: its parents run in a circle")]


def test_a_county_admin_loads_only_below_their_own_node(store: Store) -> None:
    _load(store, SAMPLE.read_bytes())
    with store.engine.connect() as conn:
        county = scope_of(conn, "390102")
    added = _load(store, "代码,名称,上级代码\n390102004,新村镇,\n390102004001,新村,390102004\n".encode(), county)
    assert added.added == 2 and _codes(store)["390102004"] == "0/39/3901/390102/390102004/"
    with pytest.raises(BadLines) as refused:
        _load(store, ("代码,名称,上级代码\n390103001002,别人的社区,390103001\n390103001,改名,390103\n"
                      "390102,我自己,3901\n390102005,新镇,\n").encode(), county)
    assert [line for line, _why in refused.value.errors] == [2, 3, 4]
    assert "no such node in your area" in refused.value.errors[0][1]


def test_a_hundred_thousand_lines_load_with_progress(store: Store) -> None:
    lines = ["代码,名称,上级代码", "39,示例省,", "3901,示例市,39", "390102,东湖县,3901"]
    for town in range(1, 102):
        lines.append(f"390102{town:03d},第{town}街道,390102")
        lines += [f"390102{town:03d}{n:03d},第{town}街道第{n}社区,390102{town:03d}" for n in range(1, 991)]
    seen: list[tuple[int, int]] = []
    read: list[int] = []
    done = _load(store, "\n".join(lines).encode(), progress=lambda n, total: seen.append((n, total)),
                 reading=lambda n, _total: read.append(n))
    assert done.added == len(lines) - 1 > 100_000
    assert seen[-1] == (done.added, done.added) and len(seen) > 100
    assert len(read) >= 100  # the reading was heard too, as it went
    with store.engine.connect() as conn:
        town = scope_of(conn, "390102050")
        assert conn.scalar(select(func.count()).select_from(town.regions().subquery())) == 991


def test_an_admin_loads_the_tree_and_places_a_checkpoint_over_the_api(any_server: Server) -> None:
    admin = any_server.login("admin")
    bad = admin.post("/api/regions/file", files={"file": ("t.csv", BAD.encode())})
    assert bad.status_code == 422
    assert [e["line"] for e in bad.json()["detail"]["errors"]] == [4, 5, 6, 7, 8, 10]
    assert admin.get("/api/regions").json()[0]["code"] == ROOT and len(admin.get("/api/regions").json()) == 1
    not_a_table = admin.post("/api/regions/file", files={"file": ("t.xlsx", b"PK\x03\x04junk")})
    assert not_a_table.status_code == 422 and "not a spreadsheet" in not_a_table.json()["detail"]["error"]
    done = admin.post("/api/regions/file", files={"file": ("t.csv", SAMPLE.read_bytes())})
    assert done.status_code == 200 and done.json() == {"added": 15, "changed": 0, "unchanged": 0}
    assert admin.put("/api/sites/site-a", json={"region": "390102001"}).status_code == 204
    assert admin.put("/api/sites/site-a", json={"region": "999999"}).status_code == 404
    (town,) = [n for n in admin.get("/api/regions").json() if n["code"] == "390102001"]
    assert town["sites"] == ["site-a"] and town["level"] == "township"
    page = admin.get("/regions")
    assert "新华街道" in page.text and "site-a" in page.text
    entries = admin.get("/api/audit", params={"action": "regions_import"}).json()
    assert [e["detail"] for e in entries] == ["15 added, 0 changed, 0 unchanged"]
