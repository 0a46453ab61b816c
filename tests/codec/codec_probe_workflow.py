"""A small workflow that puts one secret string everywhere a payload can go.

Used to prove the converter encrypts inputs, results, memos, summaries, details, queries,
updates, activity arguments and failure messages (see test_codec_temporal.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel


class ProbeInput(BaseModel):
    secret: str
    fail: bool = False
    wait_for_finish: bool = True


@activity.defn
async def echo_secret(secret: str) -> str:
    return f"activity saw {secret}"


@workflow.defn
class CodecProbe:
    def __init__(self) -> None:
        self._secret = ""
        self._finish = False

    @workflow.run
    async def run(self, probe: ProbeInput) -> str:
        self._secret = probe.secret
        workflow.set_current_details(f"details {probe.secret}")
        workflow.upsert_memo({"upserted": f"memo {probe.secret}"})
        echoed = await workflow.execute_activity(
            echo_secret,
            probe.secret,
            start_to_close_timeout=timedelta(seconds=10),
            summary=f"activity summary {probe.secret}",
        )
        await workflow.sleep(timedelta(seconds=1), summary=f"timer {probe.secret}")
        if probe.wait_for_finish:
            await workflow.wait_condition(lambda: self._finish)
        if probe.fail:
            raise ApplicationError(f"failure message {probe.secret}", non_retryable=True)
        return f"result {echoed}"

    @workflow.query
    def peek(self) -> str:
        return f"query {self._secret}"

    @workflow.update
    def finish(self, note: str) -> str:
        self._finish = True
        return f"update {note}"
