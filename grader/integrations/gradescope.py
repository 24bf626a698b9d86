"""Gradescope: ``python -m grader gradescope OUT.zip`` builds the autograder, and
``python -m grader.integrations.gradescope run`` is what its ``run_autograder`` does for each submission.

The zip holds ``setup.sh`` and ``run_autograder`` at its top, then the kit as the grader needs it:
``pyproject.toml``, ``grader/`` (hidden checks included) and ``exercises/``; never ``solutions/``,
``tests/`` or ``bench/``. Gradescope unpacks it into ``/autograder/source``, runs ``setup.sh`` once
when it builds the image, and for every submission runs ``/autograder/run_autograder``, which grades
``$AUTOGRADER_ROOT/submission`` (default ``/autograder``) with the same pipeline as
``python -m grader grade`` and writes ``$AUTOGRADER_ROOT/results/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader.checking import amqp, settings
from grader.checking.exercise import SOURCE_ROOT, all_exercises

PACKED = ("pyproject.toml", "setup.py", "README.md", "grader", "exercises")  # relative to the kit's root
LEFT_OUT = {"__pycache__", ".pytest_cache"}

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: Python and bubblewrap
# from apt, then the kit (editable, from this folder) in a venv of its own. Run again, it only
# installs what is missing.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
command -v bwrap >/dev/null || missing+=(bubblewrap)
@BROKER@
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "baozi-kit needs Python 3.10 or later; choose a newer Ubuntu image in Gradescope" >&2; exit 1; }
[ -x "$ROOT/venv/bin/python" ] || python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -e "$SOURCE"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, from /autograder. It grades $AUTOGRADER_ROOT/submission
# (default /autograder) with the kit in $AUTOGRADER_ROOT/source and writes
# $AUTOGRADER_ROOT/results/results.json. The Python is $BAOZI_PYTHON, else the venv setup.sh made,
# else python3 from PATH.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${BAOZI_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/venv/bin/python" ]; then PYTHON="$ROOT/venv/bin/python"; else PYTHON=python3; fi
fi
cd "$ROOT/source" || exit 1
# The kit of this folder, not another installed copy: the runner it starts finds it the same way.
export PYTHONPATH="$ROOT/source${PYTHONPATH:+:$PYTHONPATH}"
# The feedback's languages were chosen when the autograder was built (--lang).
exec "$PYTHON" -m grader.integrations.gradescope run --root "$ROOT" --lang @LANG@
"""


BROKER_LINE = ("# An exercise needs RabbitMQ: run_autograder starts it (Gradescope starts no services).\n"
               "command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)")
BROKER_START = 120  # seconds RabbitMQ may take to start in the autograder's container


def setup_sh(exercises) -> str:
    """setup.sh for these exercises: RabbitMQ comes along when one of them needs it."""
    return SETUP_SH.replace("@BROKER@", BROKER_LINE if any(e.needs_broker for e in exercises) else "")


def _files(root: Path):
    for name in PACKED:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and not LEFT_OUT & set(found.relative_to(root).parts):
                    yield found


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, data)


def build(out: Path, root: Path | None = SOURCE_ROOT, languages: tuple[str, ...] = ("en",)) -> Path:
    """Write the autograder zip to `out` (replaced if it exists), from the kit's source folder; its
    feedback is in `languages` (settings.course_languages)."""
    if root is None:
        raise SystemExit("the autograder is built from the kit's source folder, and this kit is an "
                         "installed copy: run `python -m grader gradescope` from a checkout")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    os.close(handle)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            _add(archive, "setup.sh", setup_sh(all_exercises()).encode(), executable=True)
            _add(archive, "run_autograder", RUN_AUTOGRADER.replace("@LANG@", ",".join(languages)).encode(),
                 executable=True)
            for path in _files(root):
                _add(archive, path.relative_to(root).as_posix(), path.read_bytes(), executable=False)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return out


def _fallback(root: Path, why: str, seconds: float) -> None:
    """A results.json that says the grader itself failed, so the student sees why, not nothing."""
    from grader.grading import report

    payload = {"score": 0, "execution_time": round(seconds, 2), "output_format": "text",
               "visibility": "visible", "stdout_visibility": "hidden", "tests": [],
               "output": f"The autograder failed before it could grade this submission: {why}. "
                         "Please tell your instructor."}
    report.atomic_write(root / "results" / "results.json", json.dumps(payload, indent=2))


def _scale() -> float:
    """BAOZI_BUDGET_SCALE, as for the student's checks: more time for every check on a slow machine
    (1 if it is not a positive number: the autograder must grade)."""
    try:
        return settings.budget_scale()
    except ValueError:
        return 1.0


def _start_broker() -> str | None:
    """Start the RabbitMQ that setup.sh installed, if none answers at the default address; None
    when a broker answers (afterwards), else why not. A broker elsewhere (KIT_AMQP_URL) is never
    started: only this machine's can be."""
    if os.environ.get(amqp.URL_ENV):
        return f"{amqp.URL_ENV} names a broker that does not answer"
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    control = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not (os.path.exists(server) and os.path.exists(control)):
        return "rabbitmq-server is not installed (setup.sh installs it)"
    print("starting RabbitMQ for the exercises that need it", flush=True)
    # `await_startup` fails at once while the node is not up yet; `wait PIDFILE` waits for the node
    # to write its pid file, then for it to finish booting.
    pid_file = Path(tempfile.mkdtemp(prefix="baozi-rabbitmq-")) / "node.pid"
    pid_file.parent.chmod(0o777)  # the Debian script runs the node as the rabbitmq user
    env = {**os.environ, "RABBITMQ_PID_FILE": str(pid_file)}
    with open(os.devnull, "wb") as quiet:
        # Its own session: the broker serves every check and lives as long as the container.
        subprocess.Popen([server], stdout=quiet, stderr=quiet, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    try:
        subprocess.run([control, "-q", "wait", "--timeout", str(BROKER_START), str(pid_file)],
                       capture_output=True, timeout=BROKER_START + 30, check=False)
    except subprocess.TimeoutExpired:
        return f"RabbitMQ did not start within {BROKER_START} s"
    return amqp.unreachable()


def run(root: Path, *, sandbox: str = "auto", languages: tuple[str, ...] = ("en",)) -> int:
    """Grade ``root/submission`` into ``root/results/results.json``, as ``python -m grader grade``."""
    from grader.grading import pipeline
    from grader.grading import report
    from grader.grading.sandbox import choose

    started = time.monotonic()
    results = root / "results"
    try:
        if pipeline.broker_problem(all_exercises()) and _start_broker():
            raise RuntimeError(pipeline.broker_problem(all_exercises()))
        chosen = choose(sandbox)
        print(chosen.description, flush=True)  # results/stdout: for the instructor
        submission = root / "submission"
        if not submission.is_dir():
            raise FileNotFoundError(f"{submission} is not a folder")
        with tempfile.TemporaryDirectory(prefix="baozi-gradescope-") as tmp:
            options = pipeline.Options(sandbox=chosen, hide=(results.resolve(),), scale=_scale(), languages=languages)
            graded = pipeline.grade(submission, Path(tmp), options)
            payload = json.loads((Path(tmp) / pipeline.RESULT_FILE).read_text(encoding="utf-8"))
    except Exception as exc:  # the grader's own fault: still a results.json, with the reason
        _fallback(root, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        print(f"grading failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    payload["stdout_visibility"] = "hidden"  # results/stdout is the instructor's (sandbox notice)
    report.atomic_write(results / "results.json", json.dumps(payload, indent=2, ensure_ascii=False))
    print(f"{graded.student}: {graded.score:g} / {graded.max_score} in {graded.seconds:.1f} s")
    return 0


def main(args) -> int:
    """``python -m grader gradescope OUT.zip``."""
    from grader.checking.exercise import all_exercises
    from grader.grading.checklist import max_score

    path = build(args.out, languages=args.lang)
    total = sum(max_score(e) for e in all_exercises())
    print(f"autograder written to {path}: upload it in Gradescope (Configure Autograder > Zip file "
          f"upload) and give the assignment {total} points; see docs/gradescope.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m grader.integrations.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    runner.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    runner.add_argument("--sandbox", choices=["auto", "bubblewrap", "session"], default="auto")
    runner.add_argument("--lang", type=settings.course_languages, default=("en",))
    parsed = parser.parse_args()
    sys.exit(run(parsed.root, sandbox=parsed.sandbox, languages=parsed.lang))
