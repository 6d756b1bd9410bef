"""Jurisdictions: the region tree, where each checkpoint and each office user stands in it, and the
Scope that limits what a user reads and does to their node's subtree.

Codes follow GB/T 2260 and the statistical division codes below it: a province has 2 digits, a
city 4, a county 6, a township or street 9, a community or village 12, each beginning with its
parent's code. Below a county a deployment may use codes of its own (letters, digits and "-",
not all digits). Above every node stands the root, `ROOT`, which is the whole deployment: a
single-office deployment has only the root, and its sites and users all stand there.

Each node keeps its `path`, the codes from the root down to it, each followed by "/": a subtree
is every node whose path begins with its top's path, one range on an index. `Scope.sites()` and
`Scope.regions()` are the subqueries that every scoped query filters on (`Scope.site_in`,
`Scope.region_in`, and for cases `Scope.case_in`): a query for a user of the root gets no filter
at all. A case belongs to the office of the checkpoint that opened it, and to each office that
owes a follow-up on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, exists, or_, select, true
from sqlalchemy import case as when

from central import sheets
from central.schema import cases, obligations, regions, sites, users

ROOT = "0"
ROOT_NAME = "全部辖区"
LEVELS = {2: "province", 4: "city", 6: "county", 9: "township", 12: "community"}
OWN_LEVEL = "own"  # a deployment's own code, below a county
_DIGITS = re.compile(r"^\d+$")
_OWN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,19}$")
PATH_MAX = 400  # the path column's width
REGION_PATTERN = r"^(0|[0-9A-Za-z][0-9A-Za-z-]{0,19})$"  # a code as a parameter (checked for its level later)


class RegionError(ValueError):
    """A code, a parent or a placement that cannot be (the message says why)."""


def level_of(code: str) -> str | None:
    """province | city | county | township | community | own, or None for a code that is none."""
    if _DIGITS.match(code):
        return LEVELS.get(len(code))
    return OWN_LEVEL if _OWN.match(code) else None


def code_problem(code: str, parent: str) -> str | None:
    """Why `code` cannot stand under `parent` (ROOT for the top), or None when it can."""
    level = level_of(code)
    if code == ROOT or level is None:
        return (f"code {code!r} is not a division code (2, 4, 6, 9 or 12 digits) nor a deployment's own "
                "code (letters, digits and '-', up to 20)")
    if parent == ROOT:
        if level == OWN_LEVEL:
            return f"a deployment's own code ({code}) stands below a county, not at the top"
        return None
    parent_level = level_of(parent)
    if parent_level is None:
        return f"parent {parent!r} is not a region code"
    if level == OWN_LEVEL:
        if parent_level not in ("county", "township", "community", OWN_LEVEL):
            return f"a deployment's own code ({code}) stands below a county; {parent} is a {parent_level}"
        return None
    if parent_level == OWN_LEVEL:
        return f"a division code ({code}) cannot stand below a deployment's own code ({parent})"
    if len(code) <= len(parent) or not code.startswith(parent):
        return f"{code} ({level}) does not begin with its parent's code {parent} ({parent_level})"
    return None


def child_path(parent_path: str, code: str) -> str:
    return f"{parent_path}{code}/"


ROOT_PATH = child_path("", ROOT)


def _under(path: str) -> ColumnElement[bool]:
    """Nodes whose path begins with `path` (which ends with "/"): as a range, so an index serves it
    (the next character after "/" is "0", and codes hold nothing between them)."""
    return and_(regions.c.path >= path, regions.c.path < path[:-1] + "0")


class Scope(BaseModel):
    """A user's jurisdiction: their node and everything below it."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    path: str

    @property
    def whole(self) -> bool:
        """The whole deployment (the root): nothing is filtered."""
        return self.code == ROOT

    def regions(self) -> Select[tuple[str]]:
        """The codes of the subtree's nodes."""
        return select(regions.c.code).where(_under(self.path))

    def sites(self) -> Select[tuple[str]]:
        """The checkpoints that stand in the subtree."""
        return select(sites.c.site).join(regions, regions.c.code == sites.c.region).where(_under(self.path))

    def site_in(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """The filter for a row that belongs to the checkpoint in `column`."""
        return true() if self.whole else column.in_(self.sites().scalar_subquery())

    def region_in(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """The filter for a row that belongs to the node in `column`."""
        return true() if self.whole else column.in_(self.regions().scalar_subquery())

    def user_in(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """The filter for a row that a user (by name, in `column`) wrote: one who stands in the subtree."""
        if self.whole:
            return true()
        return column.in_(select(users.c.username).where(self.region_in(users.c.region)).scalar_subquery())

    def writer(self, column: ColumnElement[str]) -> ColumnElement[Any]:
        """A user name (`column`) as a reader in the subtree may see it: null for one above or beside it."""
        return column if self.whole else when((self.user_in(column), column), else_=None).label(column.name)

    def case_in(self) -> ColumnElement[bool]:
        """The filter for a case: it belongs to the office of the checkpoint that opened it, and is
        shown to every office that owes (or owed) a follow-up on it (a hand-off, a destination)."""
        if self.whole:
            return true()
        owed = select(obligations.c.case_id).where(self.region_in(obligations.c.node)).scalar_subquery()
        return or_(self.site_in(cases.c.first_site), cases.c.id.in_(owed))

    def case_id_in(self, column: ColumnElement[int]) -> ColumnElement[bool]:
        """The filter for a row that points at a case (by id)."""
        # case_in asked of that one case (by its key), not as "among every case of the scope": a
        # listing of verdicts would otherwise read the whole cases table for each request
        if self.whole:
            return true()
        opened_here = exists(select(cases.c.id).where(cases.c.id == column, self.site_in(cases.c.first_site)))
        owed_here = exists(select(obligations.c.id).where(obligations.c.case_id == column,
                                                          self.region_in(obligations.c.node)))
        return or_(opened_here, owed_here)

    def covers(self, path: str) -> bool:
        """Whether a node (by its path) is in the subtree."""
        return path.startswith(self.path)


WHOLE = Scope(code=ROOT, name=ROOT_NAME, path=ROOT_PATH)


def scope_of(conn: Connection, code: str) -> Scope:
    """The scope of the node `code`; RegionError when there is no such node."""
    row = conn.execute(select(regions.c.code, regions.c.name, regions.c.path).where(regions.c.code == code)).first()
    if row is None:
        raise RegionError(f"no region {code!r}")
    return Scope(code=row.code, name=row.name, path=row.path)


def node_in(conn: Connection, scope: Scope, code: str) -> Scope:
    """The node `code` if it stands in `scope`; RegionError (as if it did not exist) otherwise."""
    found = scope_of(conn, code)
    if not scope.covers(found.path):
        raise RegionError(f"no region {code!r}")
    return found


def place_site(conn: Connection, site: str, region: str | None = None) -> None:
    """Put a checkpoint at a node (`region`), or at the root when it is new and no node is named;
    a known checkpoint named without a node stays where it is."""
    known = conn.scalar(select(sites.c.region).where(sites.c.site == site))
    if region is None:
        if known is None:
            conn.execute(sites.insert().values(site=site, region=ROOT))
        return
    scope_of(conn, region)  # the node exists
    if known is None:
        conn.execute(sites.insert().values(site=site, region=region))
    elif known != region:
        conn.execute(sites.update().where(sites.c.site == site).values(region=region))


def site_region(conn: Connection, scope: Scope, site: str) -> str:
    """The node a checkpoint in `scope` stands at; RegionError (as if unknown) for one outside."""
    row = conn.execute(
        select(sites.c.region).where(sites.c.site == site, scope.site_in(sites.c.site))
    ).first()
    if row is None:
        raise RegionError(f"no site {site!r}")
    return str(row.region)


@dataclass(frozen=True)
class TreeNode:
    code: str
    name: str
    parent: str | None
    level: str  # province ... community, own, or root
    depth: int  # below the scope's node (which is 0)
    sites: list[str]  # the checkpoints that stand here


def tree(conn: Connection, scope: Scope) -> list[TreeNode]:
    """The scope's nodes in path order (a parent before its children), with their sites."""
    placed: dict[str, list[str]] = {}
    for site, region in conn.execute(select(sites.c.site, sites.c.region).where(scope.site_in(sites.c.site))
                                     .order_by(sites.c.site)):
        placed.setdefault(region, []).append(site)
    rows = conn.execute(select(regions).where(_under(scope.path)).order_by(regions.c.path))
    return [TreeNode(code=r.code, name=r.name, parent=r.parent, level=level_of(r.code) or "root",
                     depth=r.path.count("/") - scope.path.count("/"), sites=placed.get(r.code, []))
            for r in rows]


def paths_of(parents: Mapping[str, str]) -> dict[str, str]:
    """Each node's path, from each node's parent (the root's own entry aside); a node in a cycle
    or under one has none."""
    paths = {ROOT: ROOT_PATH}

    def walk(code: str) -> str | None:
        chain = []
        while code not in paths:
            if code in chain or code not in parents:
                return None
            chain.append(code)
            code = parents[code]
        for node in reversed(chain):
            paths[node] = child_path(paths[parents[node]], node)
        return paths[chain[0]] if chain else paths[code]

    for code in parents:
        walk(code)
    return paths


# loading the tree from an office's table


COLUMNS: list[sheets.Column] = [
    sheets.column("code", "代码", "编码", "区划代码", "统计用区划代码", "行政区划代码"),
    sheets.column("name", "名称", "区划名称", "单位名称"),
    sheets.column("parent", "上级", "上级代码", "上级编码", "上级区划代码", "parent_code"),
]
SAMPLE = Path(__file__).with_name("regions_sample.csv")
MAX_NAME = 100


@dataclass(frozen=True)
class Node:
    """One line of the table: a node and its parent ("": the importer's own node)."""

    code: str
    name: str
    parent: str


@dataclass(frozen=True)
class Imported:
    added: int
    changed: int  # renamed or moved (a moved node's subtree moves with it)
    unchanged: int


def parse_line(cells: Mapping[str, str], top: str) -> Node:
    """One line checked on its own: a name, and a code that fits under its parent (`top` when none)."""
    code, name, parent = cells.get("code", ""), cells.get("name", ""), cells.get("parent", "")
    if not code:
        raise sheets.LineError("no code")
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise sheets.LineError(f"{code}: a name of 1 to {MAX_NAME} printable characters is needed")
    problem = code_problem(code, parent or top)
    if problem:
        raise sheets.LineError(problem)
    return Node(code, name, parent)


def load_tree(
    conn: Connection, scope: Scope, data: bytes, progress: Callable[[int, int], None] = lambda _done, _total: None,
    reading: Callable[[int, int], None] = lambda _done, _total: None,
) -> Imported:
    """Add or change the nodes of an office's table (code, name, parent) under `scope`'s node, in
    the caller's transaction, all or none: BadLines with each bad line and why; RegionError when
    the file is not such a table. Nodes not in the table stay as they are (nothing is removed).
    `reading` hears how far the file has been read, `progress` how far its lines are checked."""
    try:
        sheet = sheets.read(data, COLUMNS, reading)
    except sheets.SheetError as exc:
        raise RegionError(str(exc)) from None
    checked = sheets.check(sheet, lambda cells: parse_line(cells, scope.code), lambda node: node.code, progress)
    bad = {line for line, _why in checked.errors}
    numbered = list(zip([line for line, _cells in sheet.lines if line not in bad], checked.rows, strict=True))
    if not numbered and not checked.errors:
        raise RegionError("no nodes in the file")
    known = {r.code: r for r in conn.execute(select(regions.c.code, regions.c.name, regions.c.parent, regions.c.path))}
    errors = dict(checked.errors + _misplaced(numbered, known, scope))  # one reason per line
    parents = {code: row.parent for code, row in known.items() if row.parent is not None}
    parents.update({node.code: node.parent or scope.code for _line, node in numbered})
    paths = paths_of(parents)
    for line, node in numbered:
        if line in errors:
            continue
        if node.code not in paths:
            errors[line] = f"{node.code}: its parents run in a circle"
        elif len(paths[node.code]) > PATH_MAX:
            errors[line] = f"{node.code}: more than {PATH_MAX} characters of codes from the root down"
    if errors:
        raise sheets.BadLines(sorted(errors.items()))
    names = {node.code: node.name for _line, node in numbered}
    new = [dict(code=c, name=names[c], parent=parents[c], path=paths[c]) for c in names if c not in known]
    changed = [dict(b_code=c, name=names.get(c, row.name), parent=parents[c], path=paths[c])
               for c, row in known.items() if c != ROOT
               and (names.get(c, row.name), parents[c], paths[c]) != (row.name, row.parent, row.path)]
    if new:
        conn.execute(regions.insert(), new)
    if changed:
        conn.execute(regions.update().where(regions.c.code == bindparam("b_code")), changed)
    return Imported(added=len(new), changed=len(changed), unchanged=len(names) - len(new) - len(changed))


def _misplaced(numbered: list[tuple[int, Node]], known: Mapping[str, Any], scope: Scope) -> list[tuple[int, str]]:
    """Lines that reach outside the importer's subtree, or name a parent that is nowhere."""
    in_file = {node.code for _line, node in numbered}
    errors = []
    for line, node in numbered:
        parent = node.parent or scope.code
        if node.code in known and not known[node.code].path.startswith(scope.path) or node.code == scope.code:
            errors.append((line, f"{node.code}: not a node of your area below {scope.code}"))
        elif parent in known and not known[parent].path.startswith(scope.path):
            errors.append((line, f"parent {parent}: no such node in your area"))
        elif parent not in known and parent not in in_file:
            errors.append((line, f"parent {parent}: neither in the file nor in the tree"))
    return errors
