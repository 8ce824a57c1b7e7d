# ruff: noqa: F401 - the contract tests are imported to be collected here, not called
"""The contract tests the aiohttp example passes: the functions of tests/contract, imported.

pytest collects a test function wherever a test module holds it, so these run here
with this folder's fixtures, against the aiohttp example, while tests/contract runs
them against the reference server. A change to one of them changes both runs; nothing
is copied. docs/embedding.md says why the others are left out: they check Socket.IO
(the example streams Server-Sent Events instead, tested in test_live.py) or what the
reference server adds around the core (/metrics, logs, web pages and their headers, its
command line and secrets file).
"""

from __future__ import annotations

from tests.contract.test_auth import (
    test_admin_needs_the_invite_code,
    test_admin_with_the_invite_code_is_an_admin,
    test_any_other_role_is_invalid_request,
    test_five_failures_lock_the_username_even_with_the_right_password,
    test_forged_and_expired_tokens_are_401,
    test_login_answers_200_with_token_and_user,
    test_login_failure_says_the_same_for_unknown_and_wrong,
    test_login_with_wrong_types_is_invalid_request,
    test_logout_refuses_that_token_over_http,
    test_me_answers_the_user,
    test_missing_fields_are_invalid_request,
    test_missing_or_malformed_bearer_is_401,
    test_register_answers_201_with_token_and_user,
    test_username_and_password_limits_accept_the_boundaries,
    test_username_and_password_limits_refuse_beyond,
    test_username_is_unique_ignoring_case,
)
from tests.contract.test_export_stats import (
    test_export_csv_has_a_header_and_a_row_per_task,
    test_export_json_is_scan_and_tasks_and_the_default,
    test_export_with_an_unknown_format_is_400,
    test_stats_of_an_empty_scan,
    test_stats_shape_and_values,
)
from tests.contract.test_failures import (
    test_control_characters_round_trip,
    test_text_that_is_not_unicode_is_invalid_request,
)
from tests.contract.test_http_basics import (
    test_a_huge_declared_body_is_refused_without_waiting_for_it,
    test_answers_are_json_in_utf8,
    test_body_of_exactly_64_kib_is_accepted,
    test_body_over_64_kib_answers_413,
    test_chunked_body_over_64_kib_answers_413,
    test_health_answers_ok_version_and_store,
    test_json_body_must_be_an_object,
    test_malformed_json_is_invalid_request,
    test_openapi_document_is_valid_openapi_3_1,
    test_unknown_route_answers_contract_404,
    test_wrong_method_answers_contract_body,
    test_wrong_types_are_400_never_500,
)
from tests.contract.test_large_scans import test_default_page_is_100_tasks
from tests.contract.test_scans import (
    test_admins_list_all_scans_workers_the_open_ones,
    test_close_scan_answers_the_closed_scan,
    test_create_scan_answers_201_with_the_scan,
    test_get_scan_answers_the_scan_to_any_user,
    test_rbac_on_every_route,
    test_scan_name_and_description_limits,
    test_unknown_scan_is_404,
)
from tests.contract.test_tasks import (
    test_content_and_idempotency_key_limits,
    test_deciding_a_decided_task_is_already_decided,
    test_decision_values_and_reason_limit,
    test_get_task_owner_and_admin_only,
    test_idempotency_key_is_scoped_to_one_worker_in_one_scan,
    test_listing_parameters,
    test_of_two_admins_deciding_at_once_exactly_one_wins,
    test_pagination_returns_every_task_exactly_once,
    test_repeating_an_idempotency_key_answers_the_first_task,
    test_status_filter_and_default_limit,
    test_submit_answers_201_with_a_pending_task,
    test_submitting_to_a_closed_scan_is_scan_closed,
    test_workers_list_only_their_own_tasks,
)
