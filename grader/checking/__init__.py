"""Running one check and explaining it: what a student's ``pytest exercises/`` needs, and what
every graded check runs. Imports nothing of the other layers (see ``grader``). Kept free of
imports: every process of a check imports ``grader.checking.driver``."""
