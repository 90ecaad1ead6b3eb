"""The scheduler: APScheduler jobs that end grants on time, revoke unused ones, expire reviews
nobody decided, remind and escalate, tell holders before a grant ends, and build the weekly
access-review digests. Imports :mod:`approvals` and :mod:`store` only;
``gateway/cli/compose.py`` wires it (``airlock scheduler``, ``airlock scheduler run JOB``, and
inside ``airlock up``).
"""

from scheduler.config import SchedulerConfig
from scheduler.jobs import JOBS, Jobs
from scheduler.runner import JobRun, Scheduler, tick_of

__all__ = ["JOBS", "JobRun", "Jobs", "Scheduler", "SchedulerConfig", "tick_of"]
