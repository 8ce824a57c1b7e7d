"""The contract's input rules: every limit at its exact boundary, and wrong types."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from taskstream_core import Role
from taskstream_core import _validation as v
from taskstream_core.errors import InvalidRequest, NotFound
from taskstream_core.models import TaskStatus

#: Values of every JSON type but string, plus Python values a careless caller may pass.
NOT_STRINGS: list[object] = [None, 0, 12, 1.5, True, False, [], ["abc"], {}, {"a": "b"}, b"abc"]
NOT_STRINGS_OR_NONE = [x for x in NOT_STRINGS if x is not None]


def refused(check: Callable[[object], object], value: object, field: str | None = None) -> None:
    """Assert that ``check`` raises InvalidRequest (naming ``field``) for ``value``."""
    with pytest.raises(InvalidRequest) as raised:
        check(value)
    if field is not None:
        assert field in raised.value.message


# -- strings with length limits ----------------------------------------------------------

LENGTH_RULES = [
    # check, field, shortest allowed, longest allowed
    pytest.param(v.check_username, "username", 3, 32, id="username"),
    pytest.param(v.check_password, "password", 8, 256, id="password"),
    pytest.param(v.check_scan_name, "name", 1, 200, id="scan-name"),
    pytest.param(v.check_task_content, "content", 1, 5_000, id="content"),
]


@pytest.mark.parametrize(("check", "field", "low", "high"), LENGTH_RULES)
def test_required_strings_accept_exactly_their_length_range(
    check: Callable[[object], object], field: str, low: int, high: int
) -> None:
    """The shortest and longest allowed lengths pass; one less and one more are refused."""
    assert check("a" * low) == "a" * low
    assert check("a" * high) == "a" * high
    refused(check, "a" * (low - 1), field)
    refused(check, "a" * (high + 1), field)


@pytest.mark.parametrize(("check", "field", "low", "high"), LENGTH_RULES)
@pytest.mark.parametrize("value", NOT_STRINGS)
def test_required_strings_refuse_other_types(
    check: Callable[[object], object], field: str, low: int, high: int, value: object
) -> None:
    """A number, a bool, null, a list or an object where a string belongs is refused."""
    del low, high
    refused(check, value, field)


@pytest.mark.parametrize("field", ["scan_id", "task_id"])
@pytest.mark.parametrize("value", NOT_STRINGS)
def test_an_id_of_another_type_is_refused(field: str, value: object) -> None:
    """A number, a bool, null, a list or an object where an id belongs is refused (400)."""
    refused(lambda x: v.check_id(x, field), value, field)


@pytest.mark.parametrize("field", ["scan_id", "task_id"])
def test_an_id_of_1_to_64_characters_passes_and_an_empty_one_is_refused(field: str) -> None:
    """Ids of 1 and 64 characters pass; an empty one is refused."""
    assert v.check_id("a", field) == "a"
    assert v.check_id("a" * 64, field) == "a" * 64
    refused(lambda x: v.check_id(x, field), "", field)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("scan_id", "No such scan."),
        ("task_id", "No such task."),
        ("after_task_id", "No such task."),
    ],
)
def test_an_id_longer_than_64_characters_names_nothing(field: str, message: str) -> None:
    """Contract: "An unknown scan or task: 404": no object has an id over 64 characters, so
    one is NotFound with the store's message for that kind, not InvalidRequest."""
    with pytest.raises(NotFound) as raised:
        v.check_id("a" * 65, field)
    assert raised.value.message == message


OPTIONAL_RULES = [
    pytest.param(v.check_description, "description", 2_000, "", id="description"),
    pytest.param(v.check_reason, "reason", 1_000, None, id="reason"),
    pytest.param(v.check_idempotency_key, "idempotency_key", 100, None, id="idempotency_key"),
]


@pytest.mark.parametrize(("check", "field", "high", "empty"), OPTIONAL_RULES)
def test_optional_strings_accept_up_to_their_limit_and_absence(
    check: Callable[[object], object], field: str, high: int, empty: object
) -> None:
    """Absent and empty are allowed (as the empty value), the limit passes, one more is refused."""
    assert check(None) == empty
    assert check("") == empty
    assert check("a" * high) == "a" * high
    refused(check, "a" * (high + 1), field)


@pytest.mark.parametrize(("check", "field", "high", "empty"), OPTIONAL_RULES)
@pytest.mark.parametrize("value", NOT_STRINGS_OR_NONE)
def test_optional_strings_refuse_other_types(
    check: Callable[[object], object], field: str, high: int, empty: object, value: object
) -> None:
    """A present optional string of the wrong type is refused."""
    del high, empty
    refused(check, value, field)


def test_lengths_count_characters_not_bytes() -> None:
    """Limits are in characters: 5,000 non-ASCII characters is still a valid content."""
    assert v.check_task_content("é" * 5_000) == "é" * 5_000
    assert v.check_password("пароль12") == "пароль12"


# -- usernames -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abc", "A_b.c-9", "___", "...", "x" * 32, "Zoe"])
def test_usernames_of_the_allowed_alphabet_pass(name: str) -> None:
    """Letters, digits, '_', '.' and '-' are allowed."""
    assert v.check_username(name) == name


@pytest.mark.parametrize(
    "name", ["has space", "zoë", "a@b", "semi;colon", "tab\there", "abc\n", "ab/c", "日本語"]
)
def test_usernames_outside_the_alphabet_are_refused(name: str) -> None:
    """Anything else, including non-ASCII letters and a trailing newline, is refused."""
    refused(v.check_username, name, "username")


# -- enumerations --------------------------------------------------------------------------


def test_role_defaults_to_worker_and_accepts_the_two_roles() -> None:
    """An absent role means worker; 'admin' and 'worker' are taken as they are."""
    assert v.check_role(None) is Role.WORKER
    assert v.check_role("worker") is Role.WORKER
    assert v.check_role("admin") is Role.ADMIN


@pytest.mark.parametrize("role", ["Admin", "ADMIN", "root", "", " admin", 1, True, ["admin"]])
def test_any_other_role_is_refused(role: object) -> None:
    """Another spelling, another role or another type is invalid_request."""
    refused(v.check_role, role, "role")


def test_decisions_are_validated_or_refused() -> None:
    """The two verdicts pass and become statuses."""
    assert v.check_decision("validated") is TaskStatus.VALIDATED
    assert v.check_decision("refused") is TaskStatus.REFUSED


@pytest.mark.parametrize("decision", ["pending", "Validated", "", None, True, 1, ["refused"]])
def test_any_other_decision_is_refused(decision: object) -> None:
    """Pending is not a decision, and neither is anything else."""
    refused(v.check_decision, decision, "decision")


def test_status_filter_is_optional_and_any_status() -> None:
    """No filter (absent or empty) is None; each status passes."""
    assert v.check_status_filter(None) is None
    assert v.check_status_filter("") is None
    for status in TaskStatus:
        assert v.check_status_filter(status.value) is status


@pytest.mark.parametrize("status", ["done", "PENDING", 0, True, ["pending"]])
def test_an_unknown_status_filter_is_refused(status: object) -> None:
    """A status the contract does not list is refused."""
    refused(v.check_status_filter, status, "status")


# -- integers ------------------------------------------------------------------------------


def test_limit_defaults_to_100_and_accepts_1_to_500() -> None:
    """The page size is 100 when absent, and 1 and 500 are its bounds."""
    assert v.check_limit(None) == 100
    assert v.check_limit("") == 100
    assert v.check_limit(1) == 1
    assert v.check_limit(500) == 500
    assert v.check_limit("37") == 37  # query strings arrive as text


@pytest.mark.parametrize(
    "limit",
    [0, 501, -1, "0", "501", "-3", True, False, 1.0, 2.5, "2.5", "ten", [], {}, "--5", "²", "1e2"],
)
def test_a_limit_out_of_range_or_not_an_integer_is_refused(limit: object) -> None:
    """Out-of-range numbers, bools, floats and non-numeric text are invalid_request."""
    refused(v.check_limit, limit, "limit")


def test_since_seq_is_optional_and_non_negative() -> None:
    """since_seq may be absent, zero or large."""
    assert v.check_seq(None) is None
    assert v.check_seq(0) == 0
    assert v.check_seq(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize(
    "seq", [-1, 2**63, True, False, 1.5, "12", "x", "", [], {"seq": 1}, "--1", "⁵", "-0x1"]
)
def test_a_bad_since_seq_is_refused(seq: object) -> None:
    """A negative, huge, boolean, fractional, textual or non-numeric since_seq is refused
    (text is read by ``seq_from_text``)."""
    refused(v.check_seq, seq, "since_seq")


def test_check_seq_names_the_field_it_checks() -> None:
    """The error names the field the caller says it is checking."""
    refused(lambda x: v.check_seq(x, "after"), -1, "after")


# -- bodies --------------------------------------------------------------------------------


def test_a_request_body_must_be_a_json_object() -> None:
    """Objects pass; arrays, strings, numbers and null are refused."""
    assert v.require_object({"a": 1}) == {"a": 1}
    bodies: list[object] = [[], "text", 3, None, True]
    for body in bodies:
        refused(v.require_object, body)


def test_the_contract_limits_are_named() -> None:
    """The named limits hold the contract's numbers."""
    assert v.MAX_BODY_BYTES == 64 * 1024
    assert (v.MIN_PASSWORD, v.MAX_PASSWORD) == (8, 256)
    assert v.MAX_SCAN_NAME == 200
    assert v.MAX_DESCRIPTION == 2_000
    assert v.MAX_TASK_CONTENT == 5_000
    assert v.MAX_REASON == 1_000
    assert v.MAX_IDEMPOTENCY_KEY == 100
    assert v.MAX_PAGE_LIMIT == 500


def test_lone_surrogates_are_invalid_requests() -> None:
    """Text holding a lone UTF-16 surrogate is refused as invalid_request, not stored."""
    with pytest.raises(InvalidRequest):
        v.check_task_content("half a pair: \ud800")
