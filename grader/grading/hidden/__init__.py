"""Hidden checks: run by the grader, never shipped to students (``python -m grader release`` leaves
this package out). One module per exercise; each ``check_*`` function takes a ``Kit`` like a visible
test does, and its points sit in the exercise's ``exercise.toml`` under ``[hidden_points]``.

They push where the visible checks stop: other seeds, adversarial timing (slow producers, slow
consumers, items that arrive late), larger payloads, and, through the grader's plan, every start
method.
"""

# A token in every module of this package. Output that quotes one of them (a submission that found a way
# to read the hidden checks and print them) is withheld from the student and listed for the instructor
# (``grader.grading.pipeline.withhold_leaks``). Never shipped: the release leaves this package out.
CANARY = "bzk-canary-93e1f7c04ab2d658"
