"""SQS: nudges to the workers. A message names what changed; the consumer re-reads the stored state."""

from __future__ import annotations

import json
from typing import Any

from fenxiao.config import Settings


class Queues:
    def __init__(self, sqs: Any, settings: Settings) -> None:
        self._sqs = sqs
        self._urls = {
            "order": settings.order_events_queue_url,
            "binding": settings.binding_events_queue_url,
            "payout": settings.payout_queue_url,
            "jobs": settings.jobs_queue_url,
        }

    def send(self, queue: str, message: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self._urls[queue],
            MessageBody=json.dumps(message, separators=(",", ":"), sort_keys=True),
            DelaySeconds=max(0, min(900, delay_seconds)),
        )

    def send_many(self, queue: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            answer = self._sqs.send_message_batch(
                QueueUrl=self._urls[queue],
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"), sort_keys=True)}
                    for i, m in enumerate(chunk)
                ],
            )
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} of {len(chunk)} messages")
