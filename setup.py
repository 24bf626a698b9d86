"""How the instructor's kit is built (everything else is in pyproject.toml).

A checkout keeps the exercises and the solutions at the top, where students and the kit's own tests
look for them. An installed kit (``pip install .``) must work from any folder, so the wheel carries
them inside the package, as ``grader/exercises`` and ``grader/solutions``
(``grader.checking.exercise`` looks there when there is no checkout around grader/). Each folder
found there goes in, so a new exercise needs no line here; a copy without solutions (the student's
bundle, a Gradescope autograder) carries its exercises only.
"""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

BUNDLED = ("exercises", "solutions")  # grader.checking.exercise.BUNDLED
DATA = ["*.toml", "*.md"]  # besides the modules: each exercise.toml and lesson

packages = find_packages(include=["grader", "grader.*"])
package_dir, package_data = {}, {}
for folder in filter(lambda name: Path(name).is_dir(), BUNDLED):
    package_dir[f"grader.{folder}"] = folder
    inside = [f"grader.{folder}.{name}" for name in find_namespace_packages(where=folder, exclude=[".baozi*"])
              if "__pycache__" not in name and Path(folder, *name.split(".")).is_dir()]
    packages += [f"grader.{folder}", *inside]
    package_data.update({name: DATA for name in inside})

# The catalogue of mistakes, one file per language (grader.checking.mistakes): a package of data
# files, named as one so that setuptools takes its folder without warning.
packages.append("grader.checking.catalogue")
package_data["grader.checking.catalogue"] = ["*.toml"]

setup(packages=packages, package_dir=package_dir, package_data=package_data)
