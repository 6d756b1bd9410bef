"""The steps of deploy/pi/rehearse-arm64.sh that need Python: run on this machine as root, with the
arm64 root already built and its /proc, /sys, /dev mounted.

1. A wheel of the project from a clean export of the repository's HEAD (not the working tree).
2. A deployment (CA, production broker configuration, central on SQLite) and one provisioned box.
3. install.sh inside the arm64 root, from the bundle and the wheel (pip fetches the arm64 wheels).
4. In the root: the native libraries load (OpenCV, zxing-cpp, ZBar, cryptography, psycopg) and
   decode a QR code; `checkpoint doctor` names the simulated reader and thermometer on their ptys
   and logs in to the broker with the box's credentials.
5. The broker (production configuration) and central run here; the agent runs in the root as the
   `checkpoint` user with its installed bundle, until central has stored its verdicts, signed.
6. The kiosk start as the box's desktop user (uid 1000): the autostart entry names the launcher and
   the page; the launcher opens the agent's kiosk page in the root's arm64 Chromium (headless here:
   there is no screen, so it takes a screenshot and exits) and starts it again after it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ARGS.add_argument("--root", type=Path, required=True)
ARGS.add_argument("--work", type=Path, required=True)
ARGS.add_argument("--repo", type=Path, required=True)
ARGS.add_argument("--verdicts", type=int, default=5, help="Stop once central has stored this many.")
ARGS.add_argument("--timeout", type=float, default=600, help="Give the agent at most this long.")

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
from pathlib import Path
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


def step(name: str, timings: dict[str, float], action: object) -> None:
    print(f"==> {name}", flush=True)
    started = time.monotonic()
    action()  # type: ignore[operator]
    timings[name] = round(time.monotonic() - started, 1)
    print(f"    {timings[name]} s", flush=True)


def in_root(root: Path, *command: str, user: str | None = None, cwd: str = "/") -> list[str]:
    inner = ["runuser", "-u", user, "--", *command] if user else list(command)
    return ["chroot", str(root), "/bin/sh", "-c", f"cd {cwd} && exec " + " ".join(_quote(c) for c in inner)]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main() -> int:
    args = ARGS.parse_args()
    sys.path.insert(0, str(args.repo))
    from central.store import Store
    from checkpoint.broker import free_port
    from checkpoint.provision import actions
    from checkpoint.provision.deployment import BrokerSettings, Deployment, DeploymentSettings, Login
    from checkpoint.provision.trial_broker import TrialBroker
    from contract.messages import CheckpointKind
    from contract.signing import verify

    work, root = args.work, args.root
    timings: dict[str, float] = {}
    src, dist, stage = work / "src", work / "dist", root / IN_ROOT.lstrip("/")

    def export_and_build() -> None:
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(args.repo), "archive", "--format=tar", "HEAD"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], check=True)

    step("wheel from a clean export of HEAD", timings, export_and_build)
    deployment = Deployment(work / "deployment")
    settings = DeploymentSettings(
        broker=BrokerSettings(host="127.0.0.1", port=free_port(), cert_port=free_port(), reload=[],
                              data_dir=work / "broker" / "data", log_file=work / "broker" / "mosquitto.log"),
        central_database_url=f"sqlite:///{work / 'central.sqlite'}",
    )
    step("provision the box", timings, lambda: (
        actions.init(deployment, settings),
        actions.provision(deployment, DEVICE, SITE, CheckpointKind.TRAFFIC, Login.PASSWORD),
    ))
    wheel = next(dist.glob("*.whl"))
    # every run installs from scratch (the root itself is kept: it is only Debian)
    for old in (stage, root / "opt/checkpoint", root / "etc/checkpoint", root / "var/lib/checkpoint"):
        subprocess.run(["rm", "-rf", str(old)], check=True)
    stage.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(src / "deploy"), str(wheel), str(deployment.bundle_dir(DEVICE)) + ".tar.gz",
                    str(stage)], check=True)
    kiosk_port = free_port()
    kiosk_url = f"http://127.0.0.1:{kiosk_port}/"
    subprocess.run(in_root(root, "sh", "-c", f"id -u {DESKTOP_USER} >/dev/null 2>&1 || useradd -m -u 1000 "
                           f"{DESKTOP_USER}"), check=True)  # Raspberry Pi OS's first user
    install = in_root(root, "bash", f"{IN_ROOT}/deploy/pi/install.sh", "--kiosk-url", kiosk_url,
                      "--bundle", f"{IN_ROOT}/{DEVICE}.tar.gz", "--wheel", f"{IN_ROOT}/{wheel.name}")
    step("install.sh in the arm64 root (pip under emulation)", timings,
         lambda: subprocess.run(install, check=True))
    step("native libraries on arm64", timings, lambda: subprocess.run(
        in_root(root, "/opt/checkpoint/current/bin/python", "-c", SMOKE), check=True))

    broker = TrialBroker.of(deployment).start()
    store = Store(settings.central_database_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHECKPOINT_CENTRAL_HTTP__PORT": str(free_port())}
    central = subprocess.Popen([sys.executable, "-m", "checkpoint", "central", "--config",
                                str(deployment.central_config)], cwd=work, env=env,
                               stdout=(work / "central.log").open("wb"), stderr=subprocess.STDOUT)
    agent: subprocess.Popen[bytes] | None = None
    try:
        step("checkpoint doctor in the arm64 root, against the simulators", timings, lambda: subprocess.run(
            in_root(root, "/opt/checkpoint/current/bin/python", "-c", DOCTOR), check=True))

        def run_agent() -> None:
            nonlocal agent
            command = in_root(root, "env", "PYTHONUNBUFFERED=1", f"CHECKPOINT_AGENT_KIOSK__PORT={kiosk_port}",
                              "CHECKPOINT_AGENT_SIMULATION__PASSAGES_PER_MINUTE=60",
                              "CHECKPOINT_AGENT_PASSAGE_TIMEOUT_S=5",
                              "/opt/checkpoint/current/bin/checkpoint", "agent", "--config", "/etc/checkpoint/agent.yaml",
                              "--simulate", user="checkpoint", cwd="/var/lib/checkpoint")
            agent = subprocess.Popen(command, stdout=(work / "agent.log").open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
            deadline = time.monotonic() + args.timeout
            while store.counts()["stored"] < args.verdicts:
                if agent.poll() is not None or central.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("no verdicts: see " + str(work) + "/agent.log, central.log\n"
                                     + (work / "agent.log").read_text()[-3000:])
                time.sleep(1)

        step(f"agent (arm64, qemu) -> broker over TLS -> central: {args.verdicts} verdicts", timings, run_agent)
        step("kiosk start as the desktop user: Chromium (arm64) on the page, started again when it exits",
             timings, lambda: kiosk_start(root, work, kiosk_url))
        key = bytes.fromhex(deployment.box_dir(DEVICE).joinpath("signing.key").read_text())
        rows = store.latest(limit=args.verdicts)
        assert {r["device"] for r in rows} == {DEVICE} and all(verify(key, dict(r["payload"])) for r in rows)
        assert store.counts()["dead_letters"] == 0, store.dead_letters()
        print(json.dumps({"stored": store.counts(), "signatures": "verified", "timings_s": timings}, indent=1))
    finally:
        if agent is not None and agent.poll() is None:
            os.killpg(agent.pid, signal.SIGTERM)
            agent.wait(timeout=60)
        central.send_signal(signal.SIGTERM)
        central.wait(timeout=30)
        broker.stop()
        store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
