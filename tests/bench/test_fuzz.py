"""A bounded run of bench/fuzz.py (the full one sends 10,000 + 2,000 bodies) on PostgreSQL."""

from __future__ import annotations

import pytest

from bench.fuzz import run


@pytest.mark.postgres
def test_mutated_bodies_on_postgresql_get_no_undocumented_status(postgres_url: str) -> None:
    # The fixture's own schema is unused: run() makes and drops one, as the bench does.
    base = postgres_url.split("?")[0]

    result = run(base, invocations=150, feedback=100, seed=20261127)

    assert result["statuses"]["invocation"].get(200, 0) > 50  # the mutations stay realistic
    assert result["statuses"]["feedback"].get(200, 0) > 10
    assert (result["server_errors"], result["unavailable_503"], result["undocumented"]) == (0, 0, 0)
