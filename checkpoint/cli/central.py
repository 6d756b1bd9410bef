"""`checkpoint central`: run the collector and dashboard, and the office's administration.

    checkpoint central --config central.yaml                      run (the default)
    checkpoint central --config central.yaml user add NAME --role operator --region 390102
    checkpoint central --config central.yaml regions import tree.xlsx   the region tree (code, name, parent)
    checkpoint central --config central.yaml register-device box-1 --site s-1 --kind traffic --key-file k
    checkpoint central --config central.yaml purge                run the retention job once
    checkpoint central --config central.yaml import-results results.xlsx --as li   test results (落地检)
    checkpoint central --config central.yaml release-add out/0.2.0   take in a release (checkpoint release build)
    checkpoint central keygen --out downlink.key                  central's downlink key (prints the public half)

Light at import: the database and web modules load inside the commands.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from common.settings import ConfigError

if TYPE_CHECKING:
    from central.config import CentralSettings
    from central.store import Store

app = typer.Typer(help="The central collector, its dashboard, and the office's administration.")
user_app = typer.Typer(help="The office's users (roles: viewer, operator, admin).", no_args_is_help=True)
app.add_typer(user_app, name="user")
regions_app = typer.Typer(help="The region tree: the offices' jurisdictions, and where each checkpoint stands.",
                          no_args_is_help=True)
app.add_typer(regions_app, name="regions")
BAD_LINES_SHOWN = 50
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Central's YAML settings file.")]
T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


def _settings(ctx: typer.Context) -> CentralSettings:
    from central.config import CentralSettings
    from common import settings

    try:
        return settings.load(CentralSettings, ctx.obj)
    except ConfigError as exc:
        raise _fail(f"configuration error: {exc}") from None


def _with_store(ctx: typer.Context, action: Callable[[Store], T]) -> T:
    """Open the database (migrated), run `action`, turn the office's mistakes into one clear line."""
    from sqlalchemy.exc import SQLAlchemyError

    from central.auth import AccountError
    from central.main import open_store
    from central.regions import RegionError
    from central.sheets import BadLines, SheetError
    from central.store import StillRevoked

    store = open_store(_settings(ctx))
    try:
        store.migrate()
        return action(store)
    except BadLines as exc:
        for line, why in exc.errors[:BAD_LINES_SHOWN]:
            typer.secho(f"line {line}: {why}", fg="red", err=True)
        if len(exc.errors) > BAD_LINES_SHOWN:
            typer.secho(f"... and {len(exc.errors) - BAD_LINES_SHOWN} more", fg="red", err=True)
        raise _fail(str(exc)) from None
    except (AccountError, StillRevoked, RegionError, SheetError) as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _fail(f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        store.dispose()


@app.callback(invoke_without_command=True)
def central(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Without a subcommand: run the collector and its dashboard."""
    ctx.obj = config
    if ctx.invoked_subcommand is None:
        run(ctx)


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the collector, the webhook sender, the retention job and the dashboard."""
    from central.main import main

    try:
        main(ctx.obj)
    except ConfigError as exc:
        raise _fail(f"configuration error: {exc}") from None


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Bring the database schema to the newest revision."""
    _with_store(ctx, lambda _store: None)
    typer.echo("schema up to date")


@app.command()
def purge(ctx: typer.Context) -> None:
    """Run the retention job once and say what it removed."""
    from central import retention

    settings = _settings(ctx)
    done = _with_store(ctx, lambda store: retention.purge(store.engine, settings.retention))
    typer.echo(", ".join(f"{k}: {v}" for k, v in done.items()))


@app.command("register-device")
def register_device(
    ctx: typer.Context,
    device: str,
    site: Annotated[str, typer.Option(help="The checkpoint (site id) the box stands at.")],
    kind: Annotated[str, typer.Option(help="traffic or community.")] = "traffic",
    key_file: Annotated[Path | None, typer.Option(help="File holding the box's signing key (hex).")] = None,
    region: Annotated[str | None, typer.Option(help="The region node (code) the checkpoint stands at.")] = None,
) -> None:
    """Register a box and its signing key (hex, from --key-file or standard input)."""
    import re

    text = key_file.read_text() if key_file else sys.stdin.readline()
    key = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise _fail("the signing key is 64 hex digits (32 bytes)")
    if kind not in ("traffic", "community"):
        raise _fail("--kind is traffic or community")
    _with_store(ctx, lambda store: store.register_device(device, site, kind, key, region=region))
    typer.echo(f"registered {device} at {site}")


@app.command()
def keygen(out: Annotated[Path, typer.Option(help="Where to write the key (mode 0600; never overwritten).")]) -> None:
    """Make central's downlink key: it signs receipts and pushes. Prints the public half, which every
    box needs as `central_key` in its agent.yaml (`checkpoint provision` does both for you)."""
    import os

    from contract import signing

    if out.exists():
        raise _fail(f"{out} exists: boxes trust the key in it; move it away first if you mean to replace it")
    key = signing.new_downlink_key()
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(key.private_bytes_raw().hex() + "\n")
    typer.echo(f"wrote {out}; set `downlink_key_file: {out}` in central.yaml and give every box this central_key:")
    typer.echo(key.public_key().public_bytes_raw().hex())


@app.command("clear-conflict")
def clear_conflict(ctx: typer.Context, device: str) -> None:
    """After two boxes shared DEVICE's identity and one has been given its own: lift the refusal, so the
    box told to stop can deliver what waits in its outbox once restarted."""
    from central.push import PushError, publish_retained
    from contract import topics

    settings = _settings(ctx)
    site = _with_store(ctx, lambda store: store.clear_conflict(device))
    if site is None:
        raise _fail(f"{device} has no identity conflict")
    try:
        publish_retained(settings.mqtt, topics.downlink(site, device, "conflict"), b"")  # the notice is gone
    except PushError as exc:
        raise _fail(f"cleared at central, but the broker still holds the notice ({exc}); run again") from None
    typer.echo(f"conflict of {device} cleared; restart the box that was told to stop")


@app.command("release-add")
def release_add(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A release as `checkpoint release build` made it.")],
) -> None:
    """Take in a release of the box software: central checks its signature and every file, keeps a
    copy and serves it to the boxes; a rollout on the devices page sends it."""
    import getpass

    from central.releases import ReleaseRefused, Releases

    settings = _settings(ctx)
    try:
        manifest = _with_store(ctx, lambda store: Releases(store.engine, settings.releases_dir, settings.release_key)
                               .add(directory, f"cli:{getpass.getuser()}"))
    except (ReleaseRefused, ConfigError) as exc:
        raise _fail(f"release refused: {exc}") from None
    typer.echo(f"release {manifest.version} ({manifest.platform}, {len(manifest.files)} files) taken in")


@app.command("revoke-device")
def revoke_device(ctx: typer.Context, device: str) -> None:
    """Refuse everything a box sends from now on (within 5 s on running collectors)."""
    if not _with_store(ctx, lambda store: store.revoke_device(device)):
        raise _fail(f"no device {device!r}")
    typer.echo(f"revoked {device}")


@contextlib.contextmanager
def _stages() -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Progress bars for a long import, one per stage: `stage(name)` adds the stage's bar and gives what
    central's importers call with (done, total); a total of 0 is not known yet."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True) as bar:

        def stage(name: str) -> Callable[[int, int], None]:
            task = bar.add_task(name, total=None)
            return lambda done, total: bar.update(task, completed=done, total=total or None)

        yield stage


@app.command("import-results")
def import_results(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: 身份证号, 采样时间, 检测结果.", exists=True,
                                         dir_okay=False)],
    user: Annotated[str, typer.Option("--as", help="The office user (operator or above) importing: their area, "
                                                   "their name in the audit log.")],
) -> None:
    """Import test results: each closes the open 落地检 of its person in the user's area. Any bad line:
    nothing imported, each bad line listed. The same file again changes nothing."""
    from central import results

    central_settings = _settings(ctx)
    key = central_settings.pseudonym_key_bytes()
    if key is None:
        raise _fail("central has no pseudonym key (settings: pseudonym_key or pseudonym_key_file)")
    data = file.read_bytes()

    def act(store: Store) -> results.Imported:
        try:
            who, scope = results.importer(store.engine, user)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        with _stages() as stage:
            rows = results.check(data, key, central_settings.zone, stage("checking lines"), stage("reading lines"))
            stage("matching tests on arrival")
            return results.store(store.engine, data, rows, file.name, who, scope, store.obligations, "cli")

    outcome = _with_store(ctx, act)
    if outcome.already:
        typer.echo(f"already imported ({outcome.already}): nothing changed")
        return
    typer.echo(f"{outcome.lines} lines imported, {outcome.matched} tests on arrival closed, "
               f"{len(outcome.unmatched)} unmatched")
    for line, person, why in outcome.unmatched:
        typer.echo(f"  line {line}: {person}: {why}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    region: Annotated[str, typer.Option(help="The region node (code) the user works at; 0: everywhere.")] = "0",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Add a user at a region node (the password is asked for, or read from standard input)."""
    from central.auth import Role

    if role not in {r.value for r in Role}:
        raise _fail("--role is viewer, operator or admin")
    password = _password(password_stdin)
    _with_store(ctx, lambda store: _accounts(store).add(username, password, Role(role), region))
    typer.echo(f"added {username} ({role} at {region})")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    username: str,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Set a user's password."""
    password = _password(password_stdin)
    _with_store(ctx, lambda store: _accounts(store).set_password(username, password))
    typer.echo(f"password of {username} set")


@user_app.command("role")
def user_role(ctx: typer.Context, username: str, role: str) -> None:
    """Change a user's role."""
    from central.auth import Role

    if role not in {r.value for r in Role}:
        raise _fail("the role is viewer, operator or admin")
    _with_store(ctx, lambda store: _accounts(store).set_role(username, Role(role)))
    typer.echo(f"{username} is now {role}")


@user_app.command("region")
def user_region(ctx: typer.Context, username: str, region: str) -> None:
    """Move a user to another region node (code; 0: everywhere); their sessions end."""
    _with_store(ctx, lambda store: _accounts(store).set_region(username, region))
    typer.echo(f"{username} now works at {region}")


@user_app.command("disable")
def user_disable(ctx: typer.Context, username: str) -> None:
    """Stop a user logging in, and end their sessions."""
    _with_store(ctx, lambda store: _accounts(store).disable(username))
    typer.echo(f"disabled {username}")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """Every user: name, role, active or disabled, and the region node they stand at."""
    from central.regions import WHOLE

    for u in _with_store(ctx, lambda store: _accounts(store).list(WHOLE)):
        typer.echo(f"{u['username']}\t{u['role']}\t{'disabled' if u['disabled'] else 'active'}\t{u['region']}")


def _accounts(store: Store):  # noqa: ANN202 - the type lives in a module loaded lazily
    from central.auth import Accounts

    return Accounts(store.engine)


@regions_app.command("import")
def regions_import(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="CSV or XLSX with the columns code, name, parent.")] = None,
    sample: Annotated[bool, typer.Option(help="Import the small built-in sample tree (for a demo).")] = False,
) -> None:
    """Add or change nodes of the region tree from a table (code, name, parent; an empty parent is
    the top). Every line is checked first: one bad line and nothing is imported."""
    from central import audit, regions

    if (file is None) == (not sample):
        raise _fail("name a file, or --sample")
    path = regions.SAMPLE if sample else file
    assert path is not None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None

    def load(store: Store) -> regions.Imported:
        with _stages() as stage, store.engine.begin() as conn:
            done = regions.load_tree(conn, regions.WHOLE, data, stage("checking lines"), stage("reading lines"))
            audit.record(conn, "command-line", "regions_import", regions.ROOT,
                         f"{path.name}: {done.added} added, {done.changed} changed")
        return done

    done = _with_store(ctx, load)
    typer.echo(f"{path.name}: {done.added} added, {done.changed} changed, {done.unchanged} unchanged")


@regions_app.command("list")
def regions_list(ctx: typer.Context) -> None:
    """The tree, one node a line, indented, with the checkpoints that stand at each."""
    from central import regions

    def read(store: Store) -> list[regions.TreeNode]:
        with store.engine.connect() as conn:
            return regions.tree(conn, regions.WHOLE)

    for node in _with_store(ctx, read):
        sites = f"  [{', '.join(node.sites)}]" if node.sites else ""
        typer.echo(f"{'  ' * node.depth}{node.code}\t{node.name}{sites}")


@regions_app.command("place")
def regions_place(ctx: typer.Context, site: str, region: str) -> None:
    """Put a checkpoint at a region node (its boxes' records then belong to that node's office)."""
    from central import regions

    def place(store: Store) -> None:
        with store.engine.begin() as conn:
            regions.place_site(conn, site, region)

    _with_store(ctx, place)
    typer.echo(f"{site} stands at {region}")
