"""baozi-kit: the checks, the grader and the command line, in four layers.

- ``grader.checking``: runs one check and explains it, on a student's machine as on the grader's
  (the exercises' metadata, the harness and its driver, the scenarios, the diagnosis, the pytest
  plugin). It imports nothing of the layers below.
- ``grader.grading``: grades submissions with it (the plan, the sandbox, the runner, the pipeline
  of one submission, the batch, the reports, the hidden checks). It imports only ``checking``.
- ``grader.distributed``: grading on RabbitMQ workers; ``grader.integrations``: nbgrader, Jupyter
  and Gradescope. Each may import ``checking`` and ``grading``, not each other.
- On top, the commands: ``__main__`` (``python -m grader ...``), ``check`` (prove the kit) and
  ``release`` (the student's copy). No layer imports them.

tests/test_layout.py holds the package to this. Kept free of imports: spawn and forkserver children
of every check import ``grader.checking.driver``.
"""
