"""The helpers both normalisers share read headers and bodies the same for every driver."""

from __future__ import annotations

from crm_store.items import Sensitivity
from mailsync.providers.common import SENSITIVITY_WORDS, html_to_text, kept_header
from mailsync.providers.ews import normalise as ews_normalise
from mailsync.providers.graph import normalise as graph_normalise


def test_only_the_headers_rules_read_are_kept_lower_case_and_stripped() -> None:
    # GIVEN headers as either driver reads them
    assert kept_header("In-Reply-To", " <m0@us.example> ") == ("in-reply-to", "<m0@us.example>")
    assert kept_header("List-Unsubscribe", "<mailto:x@y>") == ("list-unsubscribe", "<mailto:x@y>")
    # THEN the others, and anything that is not a pair of strings, are dropped
    assert kept_header("Received", "from mx") is None
    assert kept_header("References", None) is None
    assert kept_header(None, "x") is None


def test_html_body_becomes_readable_lines_without_scripts() -> None:
    html = (
        "<html><head><style>p{}</style></head><body><p>Hello   Jane</p>"
        "<script>x()</script><div>Line&nbsp;two</div><br></body></html>"
    )
    assert html_to_text(html) == "Hello Jane\nLine two"


def test_both_normalisers_read_sensitivity_words_alike() -> None:
    # GIVEN the words Graph, EWS and MIME use
    for word, expected in (
        ("Private", Sensitivity.PRIVATE),
        ("Confidential", Sensitivity.CONFIDENTIAL),
    ):
        # THEN both drivers map them to the same sensitivity
        assert graph_normalise._sensitivity(word) is expected
        assert ews_normalise._sensitivity(word) is expected
    assert SENSITIVITY_WORDS["company-confidential"] is Sensitivity.CONFIDENTIAL
