"""baozi-kit's harness, pytest plugin and command line.

Modules: ``exercise`` (metadata), ``harness`` and ``driver`` (running a check in its own process
tree), ``diagnose`` (why a check hung), ``payloads`` (test items), ``kit`` and ``plugin`` (pytest),
``scenarios`` (what each check does), ``check`` (prove the kit).

Kept free of imports: spawn and forkserver children of every check import ``grader.driver``.
"""
