"""A student's conftest.py that turns every failure into a pass, if pytest ever loads it.

The grader must ignore it: this submission's modules are wrong (an unsolved stub and an exercise 3
without a sentinel) and must be graded as such. Its hook is scoped to this folder, so the kit's own
test session, which collects no test here, is unaffected if it loads the file.
"""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
