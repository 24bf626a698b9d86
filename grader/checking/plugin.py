"""The pytest plugin (entry point ``pytest11: baozi``): options and the ``kit`` fixture.

Options:
  --impl DIR            test the modules of DIR (laid out like exercises/) instead of the stubs
  --start-method M      run the student's code under fork, spawn or forkserver only; by default each
                        check runs under the platform's default method and under spawn
  --seed N              the seed of the generated items (every failure prints it)
  --budget-scale F      multiply every time budget (a slow machine); also BAOZI_BUDGET_SCALE
  --serial              run the checks one after another, none ahead of its turn (grader.checking.ahead)
  --require-broker      fail, instead of skipping, the checks that need RabbitMQ when none answers
                        (also KIT_REQUIRE_BROKER=1; CI sets it)
  --lang zh_CN|en       the language of the kit's reports; else BAOZI_LANG, else the system's
                        locale, else English
"""

from __future__ import annotations

import json
import multiprocessing
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader.checking import amqp, mistakes, settings

if TYPE_CHECKING:
    from grader.checking.kit import Kit

# Installed, the plugin loads in every pytest run of the machine's environment: what runs a check
# (the harness, psutil, the exercises' metadata) is imported only when a test asks for the kit.

DEFAULT_SEED = 1
TEST_TIMEOUT = 120  # pytest-timeout's last resort; the harness's own budgets are far shorter


def pytest_addoption(parser):
    group = parser.getgroup("baozi", "baozi-kit exercises")
    group.addoption("--impl", metavar="DIR", default=None,
                    help="test the modules in DIR (laid out like exercises/), e.g. --impl solutions")
    group.addoption("--start-method", choices=["fork", "spawn", "forkserver"], default=None,
                    help="run the student's code under this start method only "
                         "(default: the platform's default and spawn)")
    group.addoption("--seed", type=int, default=None,
                    help=f"seed of the generated items (default {DEFAULT_SEED})")
    group.addoption("--budget-scale", type=float, default=None,
                    help="multiply every time budget, for a slow machine (or BAOZI_BUDGET_SCALE)")
    group.addoption("--serial", action="store_true", default=False,
                    help="run the checks one after another (by default a few run at once, ahead of "
                         "their turn; the outcomes and reports are the same)")
    group.addoption("--require-broker", action="store_true", default=False,
                    help="fail the RabbitMQ checks when no broker answers, instead of skipping them "
                         f"(or {amqp.REQUIRE_ENV}=1)")
    group.addoption("--lang", metavar="LANG", default=None,
                    help=f"the language of the kit's reports: zh_CN or en (else {settings.LANG_ENV}, "
                         "else the system's locale, else English)")


def _start_methods(config) -> list[str]:
    chosen = config.getoption("--start-method")
    if chosen:
        return [chosen]
    methods = [multiprocessing.get_start_method(allow_none=True) or
               multiprocessing.get_all_start_methods()[0], "spawn"]
    return list(dict.fromkeys(methods))


def pytest_configure(config):
    chosen = config.getoption("--start-method")
    if chosen and chosen not in multiprocessing.get_all_start_methods():
        raise pytest.UsageError(f"--start-method {chosen} is not available on this platform "
                                f"(available: {', '.join(multiprocessing.get_all_start_methods())})")
    try:
        config.stash[LANGUAGE] = settings.language(config.getoption("--lang"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    impl = config.getoption("--impl")
    if impl and not _impl_root(config).is_dir():
        raise pytest.UsageError(f"--impl {impl}: no such folder (it should be laid out like exercises/)")


def _impl_root(config) -> Path:
    return (Path(config.invocation_params.dir) / config.getoption("--impl")).resolve()


def _seed(config) -> int:
    seed = config.getoption("--seed")
    return DEFAULT_SEED if seed is None else seed


LANGUAGE = pytest.StashKey[str]()  # the session's, resolved once in pytest_configure


def _language(config) -> str:
    return config.stash[LANGUAGE]


def _scale(config) -> float:
    try:
        return settings.budget_scale(config.getoption("--budget-scale"))
    except ValueError as exc:
        raise pytest.UsageError(f"--budget-scale: {exc}") from None


def pytest_report_header(config):
    language = _language(config)
    impl = config.getoption("--impl") or mistakes.say("summary", "the-stubs", language)
    return mistakes.say("summary", "header", language, impl=impl, methods=", ".join(_start_methods(config)),
                        seed=_seed(config))


def pytest_generate_tests(metafunc):
    if "kit" in metafunc.fixturenames:
        metafunc.parametrize("start_method", _start_methods(metafunc.config))


def pytest_collection_modifyitems(items):
    for item in items:
        if "kit" in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


RUN_AHEAD = pytest.StashKey[object]()  # the session's grader.checking.ahead.RunAhead


def pytest_collection_finish(session):
    config = session.config
    if config.getoption("--serial") or hasattr(config, "workerinput"):  # xdist: a worker runs a share
        return
    try:
        at_once = settings.checks_at_once()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not any("kit" in getattr(item, "fixturenames", ()) for item in session.items):
        return  # an unrelated project: nothing of the kit's to import
    from grader.checking.ahead import RunAhead  # light: its pool starts with the first check

    config.stash[RUN_AHEAD] = RunAhead(session.items, _kit_of, at_once)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A check run ahead of its turn (grader.checking.ahead): its result, as if it ran now."""
    run_ahead = pyfuncitem.config.stash.get(RUN_AHEAD, None)
    if run_ahead is None or "kit" not in pyfuncitem.fixturenames:
        return None
    ran = run_ahead.take(pyfuncitem)
    if ran is None:
        return None
    for warning in ran.warnings:
        warnings.warn(warning)
    if ran.error is not None:
        raise ran.error
    return True


def _kit_of(item) -> Kit:
    return _make_kit(item.config, Path(item.path), item.nodeid, item.callspec.params["start_method"])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark the report of a kit check's run with its exercise, check and points, and with the cause
    of its failure (kit.CheckFailed), for the summary after the checks (grader.checking.summary)."""
    report = yield
    kit = getattr(item, "funcargs", {}).get("kit")
    if call.when != "call" or kit is None or not hasattr(kit, "exercise"):
        return report
    report.baozi_exercise = kit.exercise.name
    report.baozi_method = kit.start_method
    report.baozi_check = getattr(item, "originalname", item.name)
    report.baozi_points = kit.exercise.points.get(report.baozi_check, 0)
    error = call.excinfo.value if call.excinfo is not None else None
    if getattr(error, "baozi_cause", None) is not None:
        report.baozi_cause, report.baozi_advice = error.baozi_cause, error.baozi_advice
        report.baozi_mistakes = error.baozi_mistakes
    return report


def _kit_reports(terminal, *outcomes: str) -> list:
    return [report for outcome in outcomes for report in terminal.stats.get(outcome, [])
            if getattr(report, "baozi_exercise", None) and report.when == "call"]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    """Wait for the checks still running ahead (-x, Ctrl-C); then, before the terminal prints the
    failures, each cause once per exercise (summary.fold_repeats). With BAOZI_REPORT_FILE set, the
    reports are written there first, whole."""
    run_ahead = session.config.stash.get(RUN_AHEAD, None)
    if run_ahead is not None:
        run_ahead.close()
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    report_file = os.environ.get(settings.REPORT_ENV)
    if report_file and terminal is not None:  # for the student's loop (grader.student.runs)
        from grader.checking import summary

        order = {item.nodeid: place for place, item in enumerate(session.items)}
        records = summary.records(_kit_reports(terminal, "passed", "failed", "skipped"), order)
        Path(report_file).write_text(json.dumps(records), encoding="utf-8")
    if terminal is None or terminal.verbosity >= 2:  # -vv: every report whole
        return
    failed = _kit_reports(terminal, "failed")
    if failed:
        from grader.checking import summary

        summary.fold_repeats(failed, _language(session.config))


def pytest_terminal_summary(terminalreporter, config):
    """After the failures: where each exercise stands, and the one next step."""
    if getattr(config.option, "no_summary", False) or terminalreporter.verbosity < -1:
        return
    reports = _kit_reports(terminalreporter, "passed", "failed", "skipped")
    if not reports:
        return
    from grader.checking import summary

    writer = config.get_terminal_writer()
    terminalreporter.write_line("")
    language = _language(config)
    terminalreporter.write(summary.render(summary.rows(reports, language), writer.fullwidth, writer.hasmarkup,
                                          language))


@pytest.fixture
def start_method() -> str:
    """Overridden by parametrization: the start method of this run of the check."""
    return multiprocessing.get_start_method(allow_none=True) or "spawn"


@pytest.fixture
def kit(request, start_method) -> Kit:
    """The harness for the exercise whose folder holds this test file."""
    from grader.checking import exercise as exercise_meta

    try:
        return _make_kit(request.config, Path(request.path), request.node.nodeid, start_method)
    except exercise_meta.MetadataError as exc:
        pytest.fail(f"this test's exercise metadata is broken: {exc}", pytrace=False)


def _make_kit(config, test_file: Path, nodeid: str, start_method: str) -> Kit:
    """The Kit of one run of a check (the fixture, and a check run ahead: grader.checking.ahead)."""
    from grader.checking import exercise as exercise_meta
    from grader.checking.kit import Kit, rerun_command

    folder = test_file.parent
    exercise = exercise_meta.load(folder)
    impl = config.getoption("--impl")
    seed = _seed(config)
    return Kit(
        exercise=exercise,
        impl_root=_impl_root(config) if impl else folder.parent,
        start_method=start_method,
        seed=seed,
        scale=_scale(config),
        rerun=rerun_command(nodeid, impl=impl, start_method=start_method, seed=seed),
        require_broker=config.getoption("--require-broker") or amqp.required(),
        language=_language(config),
    )
