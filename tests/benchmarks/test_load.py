"""How the load generator shares its simulated users out to client processes."""

from __future__ import annotations

from benchmarks.load import ClientSpec, deal


def _specs(submitters: int, watchers: int) -> list[ClientSpec]:
    return [ClientSpec("watch", f"w{n}") for n in range(watchers)] + [
        ClientSpec("submit", f"s{n}") for n in range(submitters)
    ]


def _tokens(shares: list[list[ClientSpec]]) -> list[list[str]]:
    return [[spec.token for spec in share] for share in shares]


def test_clients_are_dealt_in_turns_by_role() -> None:
    shares = deal(_specs(2, 4), 3)
    assert _tokens(shares) == [["s0", "w1"], ["s1", "w2"], ["w0", "w3"]]


def test_actors_apart_gives_the_submitters_a_process_of_their_own() -> None:
    shares = deal(_specs(1, 5), 3, actors_apart=True)
    assert _tokens(shares) == [["s0"], ["w0", "w2", "w4"], ["w1", "w3"]]


def test_actors_apart_needs_two_processes_and_both_kinds_of_client() -> None:
    assert _tokens(deal(_specs(1, 2), 1, actors_apart=True)) == [["s0", "w0", "w1"]]
    assert _tokens(deal(_specs(2, 0), 3, actors_apart=True)) == [["s0"], ["s1"]]
    assert _tokens(deal(_specs(1, 1), 5, actors_apart=True)) == [["s0"], ["w0"]]


def test_no_process_is_left_without_a_client() -> None:
    assert _tokens(deal(_specs(1, 0), 3)) == [["s0"]]
