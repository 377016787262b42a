"""Escalation jobs. Thin: each loads by primary key and calls one service (STYLE.md).

No procrastinate `lock=` anywhere: step jobs are scheduled in the future, and a lock would
hold back every later job with it. Exactly-once comes from the state's generation and
cursor, checked under the incident's row lock (escalation.engine).
"""

from __future__ import annotations

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from escalation import auditor, engine, sla
from escalation.snoozes import snooze_expire

# A step that hit a database error (a failover, a restart) tries again soon: a page must not
# wait long. After the last attempt the auditor still finds it overdue and queues it again.
STEP_RETRY = RetryStrategy(max_attempts=10, linear_wait=2)


@app.task(queue=engine.QUEUE, name=engine.RUN_STEP, retry=STEP_RETRY)
def run_step(*, incident_id: int, generation: int, tick: int) -> None:
    """Page the incident's next level, if it is still unacknowledged and still this page."""
    engine.step_run(incident_id=incident_id, generation=generation, tick=tick)


@app.task(queue=engine.QUEUE, name="escalation.unsnooze", retry=STEP_RETRY)
def unsnooze(*, incident_id: int, until: str) -> None:
    """The snooze set to end at `until` is over: the incident triggers again and pages."""
    snooze_expire(incident_id=incident_id, until=until)


@app.periodic(cron="* * * * * */15", periodic_id="check-sla")
@app.task(queue="periodic", name="escalation.check_sla")
def check_sla(timestamp: int) -> None:
    """Record SLA warnings and breaches that have come due (uses the clock, not `timestamp`)."""
    sla.sla_check()


@app.periodic(cron="* * * * * */30", periodic_id="escalation-auditor")
@app.task(queue="periodic", name="escalation.audit")
def audit(timestamp: int) -> None:
    """Find overdue pages and undelivered requests, repair what can be repaired."""
    auditor.audit()
