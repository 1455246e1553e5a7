"""URLs never show their secrets: a password, even one holding an unescaped '/', '?',
'#', '@' or ':' (everything from ``://`` to the last '@' is then masked), and the
credential parameters of a query string (masked when shown, dropped when stored)."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from batchport.errors import ConfigError
from batchport.logs import RedactingFilter, redact, redact_text, redact_url, url_password
from batchport.store.pgschema import redact as pg_redact
from batchport.store.pgschema import scrub, split_url

# the three shapes reported, and the other reserved characters
SHAPES = [
    ("postgresql://u:PWa/b-SECRET@127.0.0.1:1/db", "PWa/b-SECRET"),
    ("postgresql://u:PWa?b-SECRET@127.0.0.1:1/db", "PWa?b-SECRET"),
    ("postgresql://u:PW@@SECRET@127.0.0.1:1/db", "PW@@SECRET"),
    ("postgresql://u:PW#b-SECRET@127.0.0.1:1/db", "PW#b-SECRET"),
    ("postgresql://u:PW:bee/?#@-SECRET@127.0.0.1:1/db", "PW:bee/?#@-SECRET"),
]


def _pieces(password: str) -> list[str]:
    """The parts of ``password`` between its reserved characters, long enough to find."""
    return [p for p in re.split(r"[/?#@:]", password) if len(p) >= 2]


@pytest.mark.parametrize(("url", "password"), SHAPES)
def test_a_password_with_reserved_characters_is_masked_to_the_last_at(
    url: str, password: str
) -> None:
    assert url_password(url) == password
    for shown in (redact_url(url), pg_redact(url), redact_text(f"store {url} failed")):
        assert "postgresql://***@127.0.0.1:1/db" in shown
        for piece in _pieces(password):
            assert piece not in shown


def test_a_plain_password_keeps_the_user_name() -> None:
    assert redact_url("postgresql://u:PW:b@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_text("see https://user:hunter2@h/v1 now") == "see https://user:***@h/v1 now"
    assert redact_url("postgresql://h:5/db?user=a") == "postgresql://h:5/db?user=a"
    # an '@' after the path with no ':' before it is no password (a model version)
    assert redact_url("https://h/v1/models/m@2024:go") == "https://h/v1/models/m@2024:go"


@pytest.mark.parametrize(("url", "password"), SHAPES)
def test_such_a_store_url_is_refused_before_anything_is_sent(url: str, password: str) -> None:
    with pytest.raises(ConfigError, match="must be percent-encoded") as caught:
        split_url(url)
    for piece in _pieces(password):
        assert piece not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:PW%2Fb%3F%40%23@127.0.0.1:5432/db",
        "postgresql://u:PW:b@127.0.0.1:5432/db",
        "postgresql://h:5432/db?application_name=a@b&schema=s",
        "postgresql://u:p@[::1]:5432,h2:5433/db",
        "postgresql://u@h/db",
    ],
)
def test_store_urls_libpq_reads_as_written_are_accepted(url: str) -> None:
    assert split_url(url)[0].startswith("postgresql://")


def test_the_drivers_message_loses_the_password_or_is_left_out() -> None:
    url = "postgresql://u:PW@@SECRET@127.0.0.1:1/db"
    said = scrub(OSError("failed to resolve host '@SECRET@127.0.0.1'"), url)
    assert "SECRET" not in said
    assert scrub(OSError("bad password hunter2 x"), "postgresql://u:hunter2@h/db") == (
        "bad password *** x"
    )
    assert scrub(OSError("connection refused"), url) == "connection refused"


QUERY = "https://res.example/openai?api-version=1&API-Key=PWSECRETQ&sig=S1G&Token=T0K#code=C0D"


def test_credential_parameters_are_masked_when_shown_and_dropped_when_stored() -> None:
    assert redact_url(QUERY) == (
        "https://res.example/openai?api-version=1&API-Key=***&sig=***&Token=***#code=***"
    )
    assert redact_url(QUERY, drop=True) == "https://res.example/openai?api-version=1"
    assert redact_url("https://127.0.0.1:1/?api-key=PWSECRETQ", drop=True) == (
        "https://127.0.0.1:1/"
    )
    shown = redact_text(f'{{"endpoint":"{QUERY}","n":1}} and more')
    assert all(s not in shown for s in ("PWSECRETQ", "S1G", "T0K", "C0D"))
    assert shown.endswith('","n":1} and more')
    assert redact("x https://h/?password=hunter22&a=b") == "x https://h/?password=***&a=b"


def test_the_log_filter_masks_urls_in_arguments() -> None:
    record = logging.LogRecord(
        "httpx", logging.DEBUG, __file__, 1, "HTTP Request: %s", (QUERY,), None
    )
    RedactingFilter().filter(record)
    assert "PWSECRETQ" not in record.getMessage()


# -- properties ----------------------------------------------------------------------
_TEXT_SAFE = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
                           blacklist_characters='"<>`')  # fmt: skip


@given(st.text(min_size=1))
@example("PWa/b-SECRET")
@example("PWa?b-SECRET")
@example("PW@@SECRET")
def test_a_store_url_never_shows_its_password(password: str) -> None:
    url = f"postgresql://user:{password}@127.0.0.1:5432/db?schema=s"
    shown = pg_redact(url)
    assume(password not in "postgresql://user:***@127.0.0.1:5432/db?schema=s")
    assert password not in shown


@given(st.text(_TEXT_SAFE, min_size=1))
@example("PWa/b-SECRET")
def test_free_text_never_shows_a_url_password(password: str) -> None:
    url = f"https://user:{password}@host.example:8443/v1"
    shown = redact_text(f"cannot reach {url}: refused")
    assume(password not in "cannot reach https://user:***@host.example:8443/v1: refused")
    assert password not in shown


_NAMES = st.sampled_from(["api-key", "key", "token", "access_token", "sig", "signature",
                          "password", "secret", "code", "client_secret", "x-api-key"])  # fmt: skip


@given(_NAMES, st.text(st.characters(blacklist_characters="&#", blacklist_categories=("Cs",)),
                       min_size=1), st.booleans())  # fmt: skip
def test_a_credential_parameter_never_survives(name: str, value: str, upper: bool) -> None:
    name = name.upper() if upper else name
    url = f"https://h.example/p?a=1&{name}={value}&b=2"
    assume(value not in f"https://h.example/p?a=1&{name}=***&b=2")
    assert value not in redact_url(url)
    assert redact_url(url, drop=True) == "https://h.example/p?a=1&b=2"
