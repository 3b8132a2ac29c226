"""fenxiao's entry points: HTTP routes, queue consumers and timers. Each parses, calls one service, answers.

``template.yaml`` points its functions here: ``app.app`` (HTTP), ``app.on_order_event`` and the other
consumers (SQS), ``app.on_schedule`` (timers). The routes live in ``routes/``, one Blueprint per feature;
every route has its event in the template.
"""

from __future__ import annotations

import gc
from typing import Any

from chalice import Chalice
from routes import centre, members, notify, operator, orders, settings, summary, withdrawals

from fenxiao.api import http
from fenxiao.entry import lambda_context, lambda_middleware, sqs_batch

app = Chalice(app_name="fenxiao")
http.bind_app(app)
app.register_middleware(lambda_middleware, "all")
for feature in (operator, settings, members, orders, withdrawals, notify, centre, summary):
    app.register_blueprint(feature.bp)
# What the import built lives as long as the container: out of the collector's reach, the first event's
# collections (its lazy imports) and every later full one skip it (about 60 ms CPU of the cold start).
gc.freeze()


# ---------------------------------------------------------------- queue consumers and timers


@app.on_sqs_message(queue="OrderEventsQueue", batch_size=10)
def on_order_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_order_message

    converged: set[tuple[str, str]] = set()  # per batch: duplicate nudges of one order converge once
    return sqs_batch(event, lambda message: handle_order_message(message, converged))


@app.on_sqs_message(queue="BindingEventsQueue", batch_size=10)
def on_binding_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_binding_message

    return sqs_batch(event, handle_binding_message)


@app.on_sqs_message(queue="PayoutQueue", batch_size=1)
def on_payout_event(event: Any) -> dict[str, Any]:
    from fenxiao.entry.consumers import handle_payout_message

    return sqs_batch(event, handle_payout_message)


@app.on_sqs_message(queue="JobsQueue", batch_size=1)
def on_job_event(event: Any) -> dict[str, Any]:
    context = lambda_context(event)  # the job goes on in this invocation while its time allows
    from fenxiao.service import jobs  # not on the other functions' cold path

    return sqs_batch(event, lambda message: jobs.handle_job_message(message, context))


@app.lambda_function(name="scheduler")
def on_schedule(event: Any, context: Any) -> dict[str, Any]:
    from fenxiao.service import jobs

    return jobs.on_timer(event)
