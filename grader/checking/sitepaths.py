"""Where third-party packages are, for the interpreters a check starts with -S (no site
processing: it costs more than the rest of an interpreter's start-up).

A fork server of drivers that preloads a library (grader.checking.zygote) starts with no
site-packages on sys.path, and pika lies there: importing this module, which it loads first, puts
those folders back, at the end of sys.path, from the variable SITE_PATHS_ENV that the harness sets.
Elsewhere it adds nothing that is not on the path already: the variable is set only for a check's
processes, whose path has those folders."""

import os
import sys

SITE_PATHS_ENV = "BAOZI_SITE_PATHS"


def site_paths() -> list[str]:
    """This interpreter's site-packages folders (site processing on), the user's too."""
    import site  # here: every child of a check imports this module, and only the harness asks

    paths = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        paths.append(site.getusersitepackages())
    return [p for p in paths if os.path.isdir(p)]


sys.path.extend(p for p in os.environ.get(SITE_PATHS_ENV, "").split(os.pathsep) if p and p not in sys.path)
