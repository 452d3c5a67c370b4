"""Threshold calibration and the ``mesh-agents routes fit`` command on the project's labelled examples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from routing_support import fake_model, mesh_settings, request
from typer.testing import CliRunner

from mesh_agents.cli._apps import app
from mesh_agents.cli.routing import fit  # noqa: F401 - registers the command
from mesh_agents.embeddings import default_vectorizer
from mesh_agents.errors import InvalidInputError
from mesh_agents.routing import Router
from mesh_agents.routing.calibration import (
    NO_ROUTE,
    FitReport,
    LabelledExample,
    _accuracy,
    _coordinate_ascent,
    fit_routes,
    load_examples,
    split_examples,
)
from mesh_agents.routing.semantic import Aggregation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data" / "routing_examples.jsonl"


def test_examples_file_covers_routes_and_languages() -> None:
    examples = load_examples(EXAMPLES)
    assert len(examples) >= 150
    routes = Counter(example.route for example in examples if example.route)
    assert len(routes) >= 5
    assert min(routes.values()) >= 20
    assert len({example.lang for example in examples}) >= 3
    assert len({example.text for example in examples}) == len(examples)


def test_split_is_stratified_and_reproducible() -> None:
    examples = load_examples(EXAMPLES)
    train, test = split_examples(examples, test_fraction=0.3, seed=0)
    assert len(train) + len(test) == len(examples)
    assert not {e.text for e in train} & {e.text for e in test}
    strata = {(e.route, e.lang) for e in examples}
    assert {(e.route, e.lang) for e in test} == strata
    assert {(e.route, e.lang) for e in train} == strata
    again, _ = split_examples(examples, test_fraction=0.3, seed=0)
    assert [e.text for e in again] == [e.text for e in train]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "invalid JSON"),
        ('{"route": "billing"}', "'text' must be a non-empty string"),
        ('{"text": "hi", "route": 3}', "'route' must be a route name"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_line_names_its_number(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Please resend the invoice", "route": "billing"}\n' + line + "\n")
    with pytest.raises(InvalidInputError) as caught:
        load_examples(path)
    assert ":2:" in str(caught.value)
    assert fragment in str(caught.value)


@pytest.fixture(scope="module")
def report() -> FitReport:
    return fit_routes(load_examples(EXAMPLES), default_vectorizer(), seed=0)


@pytest.mark.slow
def test_fit_reports_thresholds_and_accuracy(report: FitReport) -> None:
    assert report.routes == ["billing", "code", "legal", "smalltalk", "technical_support"]
    assert all(0.0 < threshold <= 2.0 for threshold in report.thresholds.values())
    assert report.train_size + report.test_size == 180
    assert sum(sum(row.values()) for row in report.confusion.values()) == report.test_size
    assert set(report.per_route) == {*report.routes, NO_ROUTE}
    # A fit that learned nothing would sit near 1/6; the examples support far better.
    assert report.test_accuracy > 0.6
    assert report.per_language["en"]["accuracy"] >= report.test_accuracy - 0.15


@pytest.mark.slow
def test_fitted_routes_route_requests(report: FitReport) -> None:
    routes = report.to_routes()
    policies = [{"kind": "semantic_routes", "routes": [route.model_dump() for route in routes]}]
    router = Router(mesh_settings(routing={"policies": policies}), targets={"a": fake_model()})
    decision = router.route(request("We were charged twice for the annual plan, please refund one payment."))
    assert decision.route == "billing"


@pytest.mark.slow
def test_routes_fit_command_prints_report_and_writes_routes(tmp_path: Path) -> None:
    output = tmp_path / "routes.yaml"
    runner = CliRunner()
    result = runner.invoke(app, ["routes", "fit", str(EXAMPLES), "--json", "--output", str(output)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[: result.output.rindex("}") + 1])
    assert summary["split"]["stratified_by"] == ["route", "lang"]
    assert summary["split"]["train"] + summary["split"]["test"] == 180
    assert set(summary["thresholds"]) == {"billing", "code", "legal", "smalltalk", "technical_support"}
    assert "confusion" in summary

    written = yaml.safe_load(output.read_text())
    policy = written["routing"]["policies"][0]
    assert policy["kind"] == "semantic_routes"
    router = Router(mesh_settings(routing=written["routing"]), targets={"a": fake_model()})
    assert router.route(request("How do I reset two-factor authentication for a colleague?")).route is not None


@pytest.mark.slow
def test_routes_fit_command_tables_state_the_split() -> None:
    result = CliRunner().invoke(app, ["routes", "fit", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "train" in result.output
    assert "test examples" in result.output
    assert "Confusion" in result.output
    assert "distance_threshold" in result.output


def test_routes_fit_command_rejects_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["routes", "fit", str(tmp_path / "absent.jsonl")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_routes_fit_command_rejects_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "Rechnung doppelt", "route": "billing"}\n{"text": "Gr\xfc\xdfe", "route": null}\n')
    result = CliRunner().invoke(app, ["routes", "fit", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert f"{path}:2: the file is not UTF-8" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([("Please refund invoice 7", "billing")], "'billing' has 1; each route needs at least 3"),
        (
            [("refund", "billing"), ("invoice copy", "billing"), ("reset password", "support")],
            "'billing' has 2, 'support' has 1",
        ),
    ],
    ids=["one-example", "two-routes-short"],
)
def test_routes_fit_command_rejects_too_few_examples(
    tmp_path: Path, rows: list[tuple[str, str]], fragment: str
) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps({"text": text, "route": route}) + "\n" for text, route in rows))
    result = CliRunner().invoke(app, ["routes", "fit", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: too few examples per route: ")
    assert fragment in result.output


def test_fit_rejects_a_split_without_test_examples_for_a_route() -> None:
    # Three billing examples in three languages: every (route, language) group has one, so none is held out.
    examples = [
        LabelledExample("Please refund the duplicate charge.", "billing", "en"),
        LabelledExample("Bitte erstatten Sie die doppelte Abbuchung.", "billing", "de"),
        LabelledExample("Remboursez le double prélèvement, s'il vous plaît.", "billing", "fr"),
    ]
    with pytest.raises(InvalidInputError, match=r"'billing' \(3 train, 0 test\)"):
        fit_routes(examples, default_vectorizer())


@pytest.mark.parametrize("aggregation", ["avg", "min"])
def test_threshold_search_fits_routes_separately(aggregation: Aggregation) -> None:
    """A tight route and a loose route get different thresholds, each between its own and its negatives' distances."""
    # Train rows: a1-a3 (route 0), b1-b3 (route 1), n1-n2 (no route, near A), n3-n4 (no route, near B).
    # Columns: the six references a1-a3, b1-b3.
    distances = np.full((10, 6), 1.0)
    distances[0:3, 0:3] = 0.2
    distances[3:6, 3:6] = 0.6
    distances[6:8, 0:3] = 0.4
    distances[8:10, 3:6] = 0.8
    for reference in range(6):
        distances[reference, reference] = np.inf
    owners = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([0, 0, 0, 1, 1, 1, -1, -1, -1, -1])

    thresholds = _coordinate_ascent(distances, owners, labels, 2, aggregation)

    # No single shared threshold classifies all ten; separate ones do.
    assert 0.2 < thresholds[0] <= 0.4
    assert 0.6 < thresholds[1] <= 0.8
    assert _accuracy(distances, owners, labels, thresholds, aggregation) == 1.0


def test_routes_fit_command_rejects_output_in_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["routes", "fit", str(EXAMPLES), "--output", str(tmp_path / "no" / "r.yaml")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --output: folder")
