"""What a check's fork server loads first, before the libraries it preloads for the student's
processes (grader.checking.driver._preload_for_forkserver).

A fork server starts as a new interpreter with the flags of the process that started it, -S among
them, and gets none of its parent's sys.path before it loads its preloads. Importing this module
puts the third-party packages back on its path, so that the libraries after it load (pika lies
there). Elsewhere it adds nothing that is not on the path already: the variable is set only for a
check's processes, whose path has those folders."""

import os
import sys

SITE_PATHS_ENV = "BAOZI_SITE_PATHS"  # where third-party packages are, set by the driver

sys.path.extend(p for p in os.environ.get(SITE_PATHS_ENV, "").split(os.pathsep) if p and p not in sys.path)
