"""Hidden checks: run by the grader, never shipped to students (``python -m grader release`` leaves
this package out). One module per exercise; each ``check_*`` function takes a ``Kit`` like a visible
test does, and carries its points, ``@points(2)`` on the line above it (grader.grading.checklist
refuses a check without them). The student's copy of ``exercise.toml`` therefore says nothing of
them.

They push where the visible checks stop: other seeds, adversarial timing (slow producers, slow
consumers, items that arrive late), larger payloads, and, through the grader's plan, every start
method.
"""

# A token in every module of this package. Output that quotes one of them (a submission that found a way
# to read the hidden checks and print them) is withheld from the student and listed for the instructor
# (``grader.grading.pipeline.withhold_leaks``). Never shipped: the release leaves this package out.
CANARY = "bzk-canary-93e1f7c04ab2d658"


def points(value: int):
    """Give the hidden check below its points: ``@points(2)``."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"a hidden check's points must be a positive integer, not {value!r}")

    def give(check):
        if not check.__name__.startswith("check_"):
            raise ValueError(f"@points({value}) on {check.__name__}: only a check_* function is a hidden check")
        check.points = value
        return check

    return give
