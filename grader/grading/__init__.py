"""Grading submissions, on this machine: the plan of checks, the sandbox, the runner, one
submission's pipeline, the batch and its reports, and the hidden checks. Imports only
``grader.checking``."""
