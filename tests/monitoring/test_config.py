"""The monitoring YAML: defaults, overrides and one error listing every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.monitoring import AlertConfigError, JsonlSink, WebhookSink, load_config


def test_defaults_without_a_file() -> None:
    config = load_config(None, window="30m")
    assert {r.name for r in config.rules} >= {"input-drift", "performance", "latency"}
    assert all(r.window_seconds == 1800 for r in config.rules)
    assert [s.name for s in config.sinks] == ["log"]


def test_file_with_rules_and_sinks(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(
        "bucket: 10m\nwindow: 1h\n"
        "rules:\n"
        "  - {name: drift, measure: drift.share_drifted, threshold: 0.3, window: 2h,"
        " retrain: {pipeline: 'pipes.py:train'}}\n"
        "  - {name: acc, measure: performance.accuracy, threshold: 0.8, min_samples: 50}\n"
        "sinks:\n"
        "  - {type: jsonl, path: out/alerts.jsonl}\n"
        "  - {type: webhook, url: 'http://127.0.0.1:9/hook', retries: 2, timeout: 1}\n")
    config = load_config(path, window="30m")
    drift, acc = config.rules
    assert drift.window_seconds == 7200 and drift.retrain is not None
    assert drift.retrain.pipeline == "pipes.py:train" and drift.retrain.promote_to == "staging"
    assert acc.window_seconds == 1800  # --window overrides the default, not a rule's own
    jsonl, hook = config.sinks
    assert isinstance(jsonl, JsonlSink) and jsonl.path == tmp_path / "out/alerts.jsonl"
    assert isinstance(hook, WebhookSink) and hook.retries == 2 and hook.timeout == 1.0


def test_all_problems_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "bucket: 7m\nwindw: 1h\n"
        "rules:\n  - {name: d, measure: drift.share_drifted, threshold: 0.3, window: 1h}\n"
        "sinks:\n  - {type: slack}\n  - {type: webhook, url: 'ftp://x', retries: -1}\n"
        "  - {type: jsonl}\n")
    with pytest.raises(AlertConfigError, match=r"(?s)6 problem\(s\) in monitoring config .*"
                       r"unknown key `windw`. Did you mean `window`.*"
                       r"unknown sink type `slack`.*url.*http.*"
                       r"`retries` must be a whole number.*needs `path`.*"
                       r"not a whole number of buckets"):
        load_config(path)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(AlertConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed\n")
    with pytest.raises(AlertConfigError, match="is not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(AlertConfigError, match="must hold a mapping"):
        load_config(listed)
