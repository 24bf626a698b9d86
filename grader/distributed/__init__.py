"""Grading on RabbitMQ workers: the job and result messages, the workers, and the batch that
publishes and collects. Imports ``grader.checking`` and ``grader.grading``."""
