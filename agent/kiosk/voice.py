"""The kiosk's spoken prompts, as commercial terminals have: short Mandarin sentences made into audio
files once, at set-up (deploy/dev/setup.sh, deploy/pi/install.sh), with espeak-ng from Debian's
packages, so the box needs no speech engine at run time and the browser only plays a file.

    python -m agent.kiosk.voice [--out DIR]     writes pass.wav, remeasure.wav, manual.wav

The page plays `pass` for a pass, `manual` for review or deny, `remeasure` when a second reading is
asked for; it beeps instead when `kiosk.voice` is off or a file is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

PROMPTS = {
    "pass": "体温正常，请通行",
    "remeasure": "请复测体温",
    "manual": "请到人工通道",
}
FOLDER = Path(__file__).with_name("static") / "voice"
VOICE = "cmn"  # espeak-ng's Mandarin
SPEED = 150  # words a minute: slower than espeak-ng's default, for a noisy checkpoint


def generate(folder: Path = FOLDER) -> list[Path]:
    """Write one WAV file per prompt into `folder` (again only when missing)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng (the kiosk beeps without it)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in PROMPTS.items():
        path = folder / f"{name}.wav"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            subprocess.run([espeak, "-v", VOICE, "-s", str(SPEED), "-w", str(tmp), text], check=True)
            tmp.replace(path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FOLDER)
    for path in generate(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
