"""What each visible check does inside the driver process, one module per exercise.

A scenario receives a ``grader.driver.Context`` (the student's module and a deadline) and returns a
small picklable observation; the visible tests turn observations into verdicts. Scenarios start
their own helper processes before they put anything on a queue, so that fork never copies a process
that has a queue feeder thread running.
"""
