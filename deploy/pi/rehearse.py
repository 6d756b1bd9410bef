"""The steps of deploy/pi/rehearse-arm64.sh that need Python: run on this machine as root, with the
arm64 root already built and its /proc, /sys, /dev mounted.

1. A deployment (CA, release key, production broker configuration, central on SQLite) and one box
   provisioned with updates from central (its agent.yaml's `update` section).
2. Release 1: `checkpoint release build --platform arm64` from a clean export of the repository's
   HEAD (not the working tree): the project's wheel and every arm64 wheel it needs (pip download
   --platform), with the signed manifest.
3. install.sh inside the arm64 root, from the bundle and release 1's wheelhouse (offline).
4. In the root: the native libraries load (OpenCV, zxing-cpp, ZBar, cryptography, psycopg) and
   decode a QR code; `checkpoint doctor` names the simulated reader and thermometer on their ptys
   and logs in to the broker with the box's credentials.
5. The broker (production configuration) and central run here; `checkpoint supervise` runs in the
   root as the `checkpoint` user with its installed bundle (as systemd would), and its agent runs
   until central has stored its verdicts, signed.
6. The kiosk start as the box's desktop user (uid 1000): the autostart entry names the launcher and
   the page; the launcher opens the agent's kiosk page in the root's arm64 Chromium (headless here:
   there is no screen, so it takes a screenshot and exits) and starts it again after it exits.
7. Release 2 (the same source, another version), built for arm64 the same way, taken in by central
   (`release-add`) and sent to the box by a rollout an admin starts through central's API. The box
   downloads it from central, checks it, installs it beside release 1, the supervisor switches
   `current` and starts it on trial, it proves itself healthy and reports its version to central.
   Then every verdict the box showed, before and after the switch, is stored once, signed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ARGS = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ARGS.add_argument("--root", type=Path, required=True)
ARGS.add_argument("--work", type=Path, required=True)
ARGS.add_argument("--repo", type=Path, required=True)
ARGS.add_argument("--verdicts", type=int, default=5, help="Stop once central has stored this many.")
ARGS.add_argument("--timeout", type=float, default=600, help="Give the agent at most this long.")
ARGS.add_argument("--update-timeout", type=float, default=1800, help="Give the update at most this long.")

DEVICE, SITE = "pi-rehearsal", "qemu-arm64"
IN_ROOT = "/tmp/checkpoint-install"

SMOKE = """
import platform, cv2, numpy, segno, zxingcpp, cryptography, psycopg, serial, pymodbus, pydantic_core
from pyzbar import pyzbar
qr = segno.make("CKHC1 arm64 smoke test", error="m")
qr.save("/tmp/smoke.png", scale=8, border=4)
image = cv2.imread("/tmp/smoke.png", cv2.IMREAD_GRAYSCALE)
z = [r.text for r in zxingcpp.read_barcodes(image)]
b = [r.data.decode() for r in pyzbar.decode(image)]
assert z == b == ["CKHC1 arm64 smoke test"], (z, b)
print(platform.machine(), "opencv", cv2.__version__, "numpy", numpy.__version__, "zxing-cpp ok, zbar ok")
"""

DOCTOR = """
import subprocess, sys, yaml
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from drivers.idcard.simulator import IdCardSimulator
from drivers.thermo.simulator import ThermoSimulator
config = yaml.safe_load(Path("/etc/checkpoint/agent.yaml").read_text())
with IdCardSimulator(Path("/tmp/sim-idcard")) as reader, \\
        ThermoSimulator(config["thermo"]["protocol"], Path("/tmp/sim-thermo")) as thermo:
    # what the udev rules do on a box: the configured device names lead to the devices
    config["idcard"]["port"], config["thermo"]["port"] = reader.path, str(thermo.link)
    Path("/tmp/doctor-agent.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(["/opt/checkpoint/current/bin/checkpoint", "doctor", "--config", "/tmp/doctor-agent.yaml",
                           "--no-scan", "--port", reader.path, "--port", str(thermo.link),
                           "--skip", "camera", "--skip", "clock"], env={"COLUMNS": "160"})
sys.exit(done.returncode)
"""


DESKTOP_USER = "pi"
KIOSK_LOG = "/tmp/kiosk-rehearsal.log"
KIOSK_SHOT = "/tmp/kiosk-arm64.png"


def kiosk_start(root: Path, work: Path, url: str) -> None:
    """What can be checked without a screen, under emulation: the autostart entry, the voice files, and
    the launcher running as the desktop user, waiting for the agent's page, starting arm64 Chromium on it
    and starting it again each time it exits. Chromium itself does not survive qemu user-mode emulation
    (its GPU and zygote processes crash); where it does, it takes a screenshot of the page and exits."""
    autostart = (root / "etc/xdg/autostart/checkpoint-kiosk.desktop").read_text()
    assert f"Exec=/usr/local/bin/checkpoint-kiosk {url}" in autostart, autostart
    assert list(root.glob("opt/checkpoint/current/lib/*/site-packages/agent/kiosk/static/voice/pass.wav"))
    for stale in (KIOSK_LOG, KIOSK_SHOT):
        (root / stale.lstrip("/")).unlink(missing_ok=True)
    flags = f"--headless=new --no-sandbox --disable-gpu --window-size=800,480 --screenshot={KIOSK_SHOT}"
    launcher = subprocess.Popen(
        in_root(root, "env", f"CHECKPOINT_KIOSK_LOG={KIOSK_LOG}", f"CHECKPOINT_KIOSK_FLAGS={flags}",
                "/usr/local/bin/checkpoint-kiosk", url, user=DESKTOP_USER, cwd="/tmp"),
        start_new_session=True)
    log, shot = root / KIOSK_LOG.lstrip("/"), root / KIOSK_SHOT.lstrip("/")
    try:
        deadline = time.monotonic() + 600
        while not (log.exists() and log.read_text(errors="replace").count("starting it again") >= 2):
            if launcher.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the kiosk did not start and restart: "
                                 + (log.read_text(errors="replace")[-3000:] if log.exists() else "no log"))
            time.sleep(1)
        assert log.stat().st_uid == 1000, "the launcher did not run as the desktop user"
        text = log.read_text(errors="replace")
        print(f"    launcher as uid 1000: Chromium started {text.count('starting it again') + 1} times, exits: "
              + ", ".join(sorted({line.split('status ')[1].split(';')[0] for line in text.splitlines()
                                  if 'starting it again' in line})), flush=True)
        if shot.exists():
            subprocess.run(["cp", str(shot), str(work / "kiosk-arm64.png")], check=True)
            print(f"    the page, shot by arm64 Chromium: {work / 'kiosk-arm64.png'}", flush=True)
        else:
            print("    arm64 Chromium did not render the page under qemu (see the log); not a box's failure",
                  flush=True)
            subprocess.run(["cp", str(log), str(work.parent / "kiosk-arm64-chromium.log")], check=False)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)


T = TypeVar("T")


def step(name: str, timings: dict[str, float], action: Callable[[], T]) -> T:
    print(f"==> {name}", flush=True)
    started = time.monotonic()
    result = action()
    timings[name] = round(time.monotonic() - started, 1)
    print(f"    {timings[name]} s", flush=True)
    return result


def in_root(root: Path, *command: str, user: str | None = None, cwd: str = "/") -> list[str]:
    inner = ["runuser", "-u", user, "--", *command] if user else list(command)
    return ["chroot", str(root), "/bin/sh", "-c", f"cd {cwd} && exec " + " ".join(_quote(c) for c in inner)]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)
    return found


def version_of(tree: Path) -> str:
    return str(tomllib.loads((tree / "pyproject.toml").read_text())["project"]["version"])


def with_version(tree: Path, version: str, into: Path) -> Path:
    """A copy of the source tree `tree` that says it is `version`."""
    subprocess.run(["cp", "-a", str(tree), str(into)], check=True)
    pyproject = into / "pyproject.toml"
    pyproject.write_text(re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1,
                                flags=re.M))
    return into


def log_lines(log: Path) -> list[dict[str, Any]]:
    """The structured lines of the box's log (the supervisor's and its agents')."""
    return [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]


def first_at(lines: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool], what: str) -> datetime:
    for line in lines:
        if test(line):
            return datetime.fromisoformat(line["t"])
    raise SystemExit(f"the box's log has no line for {what}")


def update_timings(lines: list[dict[str, Any]], version: str, asked: datetime, reported: datetime) -> dict[str, float]:
    """The update's phases, from the box's own log lines (and when central was asked and when it saw it)."""
    def update(state: str) -> datetime:
        return first_at(lines, lambda r: r["msg"] == f"update {state}" and r.get("version") == version,
                        f"update {state}")

    def said(words: str) -> datetime:
        return first_at(lines, lambda r: words in r["msg"], words)

    fetching, installing, waiting, switching = (update(s) for s in ("fetching", "installing", "waiting", "switching"))
    stopping = said(f"to {version}: stopping the agent")
    linked = said(f"release {version} linked: starting it on trial")
    healthy = said(f"release {version} is healthy")
    spans = {
        "rollout started -> box fetching": fetching - asked,
        "download (manifest and wheels, checked)": installing - fetching,
        "install (new venv, pip --no-index)": waiting - installing,
        "wait for no passage open": switching - waiting,
        "switch (old agent drains and stops, link)": linked - switching,
        "new release healthy on trial": healthy - linked,
        "healthy -> central sees the new version": reported - healthy,
        "rollout started -> central sees the new version": reported - asked,
    }
    assert stopping >= switching, "the supervisor stopped the agent before it was asked"
    return {name: round(span.total_seconds(), 1) for name, span in spans.items()}


def main() -> int:
    args = ARGS.parse_args()
    sys.path.insert(0, str(args.repo))
    import httpx
    from sqlalchemy import select

    from central.schema import verdicts
    from central.store import Store
    from checkpoint.broker import free_port
    from checkpoint.provision import actions
    from checkpoint.provision.deployment import BrokerSettings, Deployment, DeploymentSettings, Login
    from checkpoint.provision.trial_broker import TrialBroker
    from contract.messages import CheckpointKind
    from contract.signing import verify

    work, root = args.work, args.root
    timings: dict[str, float] = {}
    src, releases, stage = work / "src", work / "releases", root / IN_ROOT.lstrip("/")
    cli = [sys.executable, "-m", "checkpoint"]
    central_url = f"http://127.0.0.1:{free_port()}"  # the box fetches releases here (central's HTTP API)
    deployment = Deployment(work / "deployment")
    settings = DeploymentSettings(
        broker=BrokerSettings(host="127.0.0.1", port=free_port(), cert_port=free_port(), reload=[],
                              data_dir=work / "broker" / "data", log_file=work / "broker" / "mosquitto.log"),
        central_database_url=f"sqlite:///{work / 'central.sqlite'}",
        dashboard_url=central_url,
    )
    step("provision the box (with updates from central)", timings, lambda: (
        actions.init(deployment, settings),
        actions.provision(deployment, DEVICE, SITE, CheckpointKind.TRAFFIC, Login.PASSWORD),
    ))

    def build_release(tree: Path) -> Path:
        subprocess.run([*cli, "release", "build", "--deployment", str(deployment.dir), "--source", str(tree),
                        "--out", str(releases), "--platform", "arm64"], check=True, cwd=args.repo)
        made = releases / version_of(tree)
        print(f"    {made.name}: {len(list(made.glob('*.whl')))} wheels, "
              f"{sum(f.stat().st_size for f in made.iterdir()) / 1e6:.0f} MB", flush=True)
        return made

    def export_and_build() -> Path:
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(args.repo), "archive", "--format=tar", "HEAD"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        return build_release(src)

    first = step("release 1: arm64 wheelhouse from a clean export of HEAD", timings, export_and_build)
    wheel = next(first.glob("checkpoint_station-*.whl"))
    # every run installs from scratch (the root itself is kept: it is only Debian)
    for old in (stage, root / "opt/checkpoint", root / "etc/checkpoint", root / "var/lib/checkpoint"):
        subprocess.run(["rm", "-rf", str(old)], check=True)
    stage.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(src / "deploy"), str(first), str(deployment.bundle_dir(DEVICE)) + ".tar.gz",
                    str(stage)], check=True)
    kiosk_port = free_port()
    kiosk_url = f"http://127.0.0.1:{kiosk_port}/"
    subprocess.run(in_root(root, "sh", "-c", f"id -u {DESKTOP_USER} >/dev/null 2>&1 || useradd -m -u 1000 "
                           f"{DESKTOP_USER}"), check=True)  # Raspberry Pi OS's first user
    install = in_root(root, "bash", f"{IN_ROOT}/deploy/pi/install.sh", "--kiosk-url", kiosk_url,
                      "--bundle", f"{IN_ROOT}/{DEVICE}.tar.gz", "--wheel", f"{IN_ROOT}/{first.name}/{wheel.name}")
    step("install.sh in the arm64 root, from release 1's wheelhouse (pip under emulation)", timings,
         lambda: subprocess.run(install, check=True))
    step("native libraries on arm64", timings, lambda: subprocess.run(
        in_root(root, "/opt/checkpoint/current/bin/python", "-c", SMOKE), check=True))

    broker = TrialBroker.of(deployment).start()
    store = Store(settings.central_database_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHECKPOINT_CENTRAL_HTTP__PORT": central_url.rsplit(":", 1)[1]}
    central = subprocess.Popen([*cli, "central", "--config", str(deployment.central_config)], cwd=work, env=env,
                               stdout=(work / "central.log").open("wb"), stderr=subprocess.STDOUT)
    box: subprocess.Popen[bytes] | None = None
    box_log = work / "box.log"

    def stored() -> int:
        return store.counts()["stored"]

    def row() -> dict[str, Any]:
        return next((dict(r) for r in store.device_status() if r["device"] == DEVICE), {})

    def running() -> None:
        if box is not None and box.poll() is not None or central.poll() is not None:
            raise SystemExit(f"the box or central stopped: see {work}/box.log, central.log\n"
                             + box_log.read_text(errors="replace")[-3000:])

    try:
        step("checkpoint doctor in the arm64 root, against the simulators", timings, lambda: subprocess.run(
            in_root(root, "/opt/checkpoint/current/bin/python", "-c", DOCTOR), check=True))

        def run_box() -> None:
            nonlocal box
            # what systemd runs (deploy/systemd/checkpoint-agent.service), with simulated devices
            command = in_root(root, "env", "PYTHONUNBUFFERED=1", f"CHECKPOINT_AGENT_KIOSK__PORT={kiosk_port}",
                              "CHECKPOINT_AGENT_SIMULATION__PASSAGES_PER_MINUTE=60",
                              "CHECKPOINT_AGENT_PASSAGE_TIMEOUT_S=5",
                              "/opt/checkpoint/current/bin/checkpoint", "supervise", "--config",
                              "/etc/checkpoint/agent.yaml", "--simulate", user="checkpoint", cwd="/var/lib/checkpoint")
            box = subprocess.Popen(command, stdout=box_log.open("wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
            deadline = time.monotonic() + args.timeout
            while stored() < args.verdicts:
                running()
                if time.monotonic() > deadline:
                    raise SystemExit(f"no verdicts in {args.timeout} s: see {work}/box.log, central.log")
                time.sleep(1)

        step(f"checkpoint supervise + agent (arm64, qemu) -> broker over TLS -> central: {args.verdicts} verdicts",
             timings, run_box)
        step("kiosk start as the desktop user: Chromium (arm64) on the page, started again when it exits",
             timings, lambda: kiosk_start(root, work, kiosk_url))
        wait_for(lambda: row().get("software") == first.name, 120, f"central to see the box run {first.name}")

        version = f"{first.name}.post1"
        second = step(f"release 2 ({version}): arm64 wheelhouse", timings,
                      lambda: build_release(with_version(src, version, work / "src-2")))
        step("release 2 taken in by central (release-add)", timings, lambda: subprocess.run(
            [*cli, "central", "--config", str(deployment.central_config), "release-add", str(second)],
            check=True, cwd=work))
        password = secrets.token_urlsafe(16)
        subprocess.run([*cli, "central", "--config", str(deployment.central_config), "user", "add", "deployer",
                        "--role", "admin", "--password-stdin"], input=f"{password}\n".encode(), check=True, cwd=work)
        before_update = stored()

        def rollout_and_update() -> tuple[datetime, datetime]:
            with httpx.Client(base_url=central_url, timeout=30) as office:
                token = office.post("/api/session", json={"username": "deployer", "password": password})
                assert token.status_code == 200, token.text
                office.headers["Authorization"] = f"Bearer {token.json()['token']}"
                asked = datetime.now(UTC)
                made = office.post("/api/rollouts", json={"version": version, "target": {"devices": [DEVICE]},
                                                          "canaries": 1})
                assert made.status_code == 200, made.text
                deadline, seen = time.monotonic() + args.update_timeout, None
                while True:
                    running()
                    now = row()
                    status = now.get("software_update") or {}
                    shown = (now.get("software"), status.get("state"), status.get("version"))
                    if shown != seen:
                        seen = shown
                        print(f"    +{(datetime.now(UTC) - asked).total_seconds():.0f} s central sees: runs "
                              f"{shown[0]}, update {shown[1]} {shown[2] or ''} {status.get('reason') or ''}",
                              flush=True)
                    if now.get("software") == version and status.get("state") == "updated":
                        reported = datetime.now(UTC)
                        break
                    if status.get("version") == version and status.get("state") in ("failed", "rolled_back"):
                        raise SystemExit(f"the update failed: {status}")
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no update in {args.update_timeout} s: see {work}/box.log")
                    time.sleep(0.5)
                rollout = made.json()["id"]
                wait_for(lambda: next(r for r in office.get("/api/rollouts").json() if r["id"] == rollout)["state"]
                         == "done", 60, "the rollout to end")
            return asked, reported

        asked, reported = step(f"rollout of {version} through central: download, install, switch, trial",
                               timings, rollout_and_update)
        after_switch = stored()

        def more_verdicts() -> bool:
            running()
            return stored() >= after_switch + args.verdicts

        step(f"verdicts from {version}", timings, lambda: wait_for(more_verdicts, args.timeout,
                                                                   "verdicts after the switch"))

        # the box as the switch left it: the link, the supervisor's state, release 1 kept beside release 2
        opt = root / "opt/checkpoint"
        state = json.loads((opt / "switch.json").read_text())
        assert os.readlink(opt / "current") == f"releases/{version}", os.readlink(opt / "current")
        assert state["phase"] == "steady" and state["current"] == version, state
        assert state["last"] == {"version": version, "outcome": "updated", "reason": ""}, state
        kept = sorted(p.name for p in (opt / "releases").iterdir())
        assert kept == sorted([first.name, version]), kept
        sizes = subprocess.run(["du", "-sm", *(str(opt / "releases" / v) for v in kept)], capture_output=True,
                               text=True, check=True).stdout.split()[::2]

        # every verdict shown, before and after the switch, stored once and signed
        assert box is not None
        os.killpg(box.pid, signal.SIGTERM)  # the supervisor stops its agent, which drains its outbox
        box.wait(timeout=120)
        lines = log_lines(box_log)
        trial = next(i for i, r in enumerate(lines) if f"release {version} linked" in r["msg"])
        shown = [r["verdict"] for r in lines if r["msg"] == "verdict shown"]
        split = sum(1 for r in lines[:trial] if r["msg"] == "verdict shown")

        def ids() -> set[str]:
            with store.engine.connect() as conn:
                return {i for (i,) in conn.execute(select(verdicts.c.id))}

        wait_for(lambda: ids() >= set(shown), 60, "every verdict shown to be stored")
        counts = store.counts()
        key = bytes.fromhex(deployment.box_dir(DEVICE).joinpath("signing.key").read_text())
        rows = store.latest(limit=len(shown) + 10)
        assert len(shown) == len(set(shown)) == counts["stored"] == len(rows), (len(shown), counts)
        assert counts["duplicates"] == 0 and counts["dead_letters"] == 0, (counts, store.dead_letters())
        assert {r["device"] for r in rows} == {DEVICE} and all(verify(key, dict(r["payload"])) for r in rows)
        assert split > 0 and len(shown) - split > 0
        update = update_timings(lines, version, asked, reported)
        print(json.dumps({
            "verdicts": {f"shown by {first.name}": split, f"shown by {version}": len(shown) - split,
                         "stored": counts["stored"], "duplicates": counts["duplicates"],
                         "dead_letters": counts["dead_letters"], "signatures": "verified",
                         "stored when the rollout started": before_update},
            "releases_on_the_box_mb": dict(zip(kept, sizes, strict=True)),
            "timings_s": timings, "update_s": update}, indent=1))
    finally:
        if box is not None and box.poll() is None:
            os.killpg(box.pid, signal.SIGTERM)
            box.wait(timeout=120)
        central.send_signal(signal.SIGTERM)
        central.wait(timeout=30)
        broker.stop()
        store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
