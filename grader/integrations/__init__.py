"""The kit inside other tools: nbgrader (a course and its gradebook), Jupyter notebooks and
Gradescope's autograder. Imports ``grader.checking`` and ``grader.grading``."""
