"""Hidden checks: run by the grader, never shipped to students (``python -m grader release`` leaves
this package out). One module per exercise; each ``check_*`` function takes a ``Kit`` like a visible
test does, and its points sit in the exercise's ``exercise.toml`` under ``[hidden_points]``.

They push where the visible checks stop: other seeds, adversarial timing (slow producers, slow
consumers, items that arrive late), larger payloads, and, through the grader's plan, every start
method.
"""
