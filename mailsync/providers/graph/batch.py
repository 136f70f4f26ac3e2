"""Bodies of tracked messages through JSON ``$batch`` (20 requests per batch).

The outer response is 200 even when inner requests fail, and each inner
request is throttled on its own. An inner 429 (or 503 with Retry-After) or
an inner 5xx is reported in the ``BodyFetch`` with the ids it left unfetched,
never retried here (retrying would mean waiting inside a worker) and never
raised for the whole call: the engine commits the page with those bodies
pending and ends the run as throttled or temporary after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from mailsync.providers.base import BodyFetch, PermanentFailure
from mailsync.providers.graph.errors import DEFAULT_RETRY_AFTER_SECONDS, retry_after_seconds
from mailsync.providers.graph.normalise import body_pair

BATCH_LIMIT = 20
Bodies = dict[str, tuple[str | None, str | None]]


def chunks(ids: Sequence[str], size: int = BATCH_LIMIT) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def body_batch_request(user_path: str, item_ids: Sequence[str]) -> dict[str, Any]:
    """The ``$batch`` body for up to 20 message bodies; request ids are list positions."""
    if len(item_ids) > BATCH_LIMIT:
        raise ValueError(f"a $batch holds at most {BATCH_LIMIT} requests, got {len(item_ids)}")
    return {
        "requests": [
            {
                "id": str(position),
                "method": "GET",
                "url": f"{user_path}/messages/{quote(item_id, safe='')}?$select=id,body",
                "headers": {"Prefer": 'IdType="ImmutableId"'},
            }
            for position, item_id in enumerate(item_ids)
        ]
    }


def parse_body_batch(response: dict[str, Any], item_ids: Sequence[str]) -> BodyFetch:
    """Bodies by item id; an inner 404 (deleted since the delta) simply has no body.

    Inner throttling and 5xx leave their ids ``unfetched`` (with the longest
    Retry-After, or the reason); a request the response does not answer at
    all counts as a transient failure. Any other inner status is a refusal
    that retrying will not cure, and fails the call.
    """
    answers = response.get("responses")
    if not isinstance(answers, list):
        raise PermanentFailure("$batch response has no responses list")
    bodies: Bodies = {}
    unfetched: list[str] = []
    throttled: list[float] = []
    temporary = ""
    for answer in answers:
        if not isinstance(answer, dict):
            raise PermanentFailure("$batch response holds a non-object")
        try:
            item_id = item_ids[int(answer.get("id", -1))]
        except (ValueError, IndexError):
            raise PermanentFailure(
                f"$batch answered an unknown request id {answer.get('id')!r}"
            ) from None
        status = int(answer.get("status", 0))
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        if status == 200:
            body = (answer.get("body") or {}).get("body") or {}
            bodies[item_id] = body_pair(body) if isinstance(body, dict) else (None, None)
        elif status == 429 or (status == 503 and "retry-after" in headers):
            wait = retry_after_seconds(headers.get("retry-after"))
            throttled.append(wait if wait is not None else DEFAULT_RETRY_AFTER_SECONDS)
            unfetched.append(item_id)
        elif status == 404:
            bodies[item_id] = (None, None)
        elif status >= 500:
            temporary = f"$batch body of {item_id}: HTTP {status}"
            unfetched.append(item_id)
        else:
            raise PermanentFailure(f"$batch body of {item_id}: HTTP {status}")
    answered = set(bodies) | set(unfetched)
    missing = [i for i in dict.fromkeys(item_ids) if i not in answered]
    if missing:
        temporary = temporary or f"$batch left {len(missing)} body requests unanswered"
        unfetched.extend(missing)
    return BodyFetch(
        bodies=bodies,
        unfetched=tuple(unfetched),
        retry_after=max(throttled) if throttled else None,
        temporary=temporary,
    )
