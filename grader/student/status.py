"""``python -m grader status``: where the student stands, from the state ``watch`` keeps, without
rerunning anything; ``--check`` reruns every exercise's visible checks first and records them."""

from __future__ import annotations

from grader.checking.exercise import all_exercises
from grader.student import progress as progress_mod
from grader.student.runs import run_exercise
from grader.student.loop import find_exercises

def main(args) -> int:
    from rich.console import Console

    console = Console(highlight=False)
    language = args.lang  # resolved by the command line (settings.language)
    exercises_dir = find_exercises()
    exercises = all_exercises(exercises_dir)
    impl = args.impl.resolve() if args.impl else None
    progress = progress_mod.Progress.load((impl or exercises_dir).resolve())
    for note in progress.notes:
        console.print(note.say(language), style="yellow")
    if args.check:
        for exercise in exercises:
            console.print(progress_mod.say("status-checking", language, name=exercise.name), style="dim")
            result = run_exercise(exercises_dir / exercise.name, impl=impl, start_method=args.start_method,
                                  language=language)
            checks = result.checks
            points, of_points = result.points
            progress.record(exercise.name, passed=sum(1 for o in checks.values() if o == "passed"),
                            checks=len(checks), points=points, of_points=of_points, done=result.passed)
        progress.current = progress.first_not_done(exercises)
        progress.save()
    if progress.current is None:
        progress.current = progress.first_not_done(exercises)
    console.print(progress_mod.render_table(progress, exercises, language))
    if all(progress.state_of(e.name).done for e in exercises):
        console.print(progress_mod.say("status-all-done", language), style="green")
    else:
        console.print(progress_mod.say("status-next", language, name=progress.first_not_done(exercises)))
    return 0
