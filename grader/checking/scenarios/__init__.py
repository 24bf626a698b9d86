"""What each visible check does in the driver, one module per exercise.

A scenario receives a ``grader.checking.driver.Context`` (a way to call the student's functions, and a
deadline) and returns a small observation of plain data; the visible tests turn observations into
verdicts. A scenario marked ``@observed`` runs in the driver's observer, which never imports the
student's module: it calls the student's functions through ``ctx.func`` (each call in a process of
its own) and reads their effects from queues it made, as plain data (``grader.checking.plain``). Any other
scenario runs whole in a host, the student's main process, and its observation is a claim the
harness checks against what it saw. Scenarios start their own helper processes
(``start_kit_process``) before they put anything on a queue, so that fork never copies a process
that has a queue feeder thread running.

Each module ends with its scenarios as the checks name them (``common.Scenario``): the class of
its observation (a ``common.Seen``, whose fields the checks read: ``kit.run(...).value.got``),
what a report calls the run, and the work and the processes its budget follows from, each from the
run's parameters, so that a visible check and a hidden one that run the same scenario get the
same budget for the same parameters: ``kit.run(RUN_BATCHES, batches=b, n_consumers=3)``.
"""
