"""Mapping files and presets are validated by pydantic models; every problem is one sentence naming file and key."""

from pathlib import Path

import pytest
import yaml

from seg_pipeline.sources.contracts import EVENT_TYPES, get_contract
from seg_pipeline.sources.mappings import MappingError, load_mapping, parse_mapping, presets
from seg_pipeline.sources.mappings.presets import PRESET_DIR, load_preset, preset_files

SEGMENT = {"preset": "segment", "input": "segment/*.jsonl"}


def error_of(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "mappings.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


# ------------------------------------------------------------------------------------------ mapping files


def test_unknown_key_is_named_with_the_keys_that_exist(tmp_path: Path):
    message = error_of(tmp_path, {"product_events": {**SEGMENT, "time_zon": "UTC"}})
    assert message.startswith("product_events.time_zon: unknown key; expected one of ")
    assert "time_zone" in message
    assert "event_types" in message


def test_unknown_key_is_reported_before_the_problems_it_causes(tmp_path: Path):
    # the misspelt `colums` leaves account_id unmapped, but the typo is what the user must fix
    message = error_of(tmp_path, {"product_events": {"input": "*", "colums": {"account_id": "org"}}})
    assert message.startswith("product_events.colums: unknown key")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({**SEGMENT, "input": 5}, "product_events.input: expected a glob of export files relative to the import "
                                  "directory, got int"),
        ({**SEGMENT, "columns": "userId"}, "product_events.columns: expected a mapping of contract column to "
                                           "export column name (or a list of them), got str"),
        ({**SEGMENT, "ignore_events": "Page Viewed"}, "product_events.ignore_events: expected a list of export "
                                                      "event names, got str"),
        ({**SEGMENT, "ignore_events": ["Page Viewed", 3]}, "product_events.ignore_events.1: expected text, got int"),
        ({**SEGMENT, "columns": {"user_id": 7}}, "product_events.columns.user_id: expected an export column name "
                                                 "or a list of them"),
        ({**SEGMENT, "values": {"feature_name": {"Dash": ["dashboards"]}}},
         "product_events.values.feature_name.Dash: expected a single value (text, number, true/false or null), "
         "got list"),
        ({**SEGMENT, "unmapped_events": "drop"}, "product_events.unmapped_events: 'drop' is not allowed; "
                                                 "expected 'keep' or 'skip'"),
    ],
)
def test_wrong_type_names_the_key_and_what_it_should_be(tmp_path: Path, spec: dict, expected: str):
    assert error_of(tmp_path, {"product_events": spec}).startswith(expected)


def test_missing_required_field_names_the_key_and_the_fix(tmp_path: Path):
    message = error_of(tmp_path, {"support_tickets": {"preset": "zendesk"}})
    assert message == "support_tickets.input: required; set it to a glob of export files relative to the import " \
                      "directory"


def test_document_level_problems(tmp_path: Path):
    assert error_of(tmp_path, ["product_events"]).startswith("expected a mapping with at least one of product_events")
    assert error_of(tmp_path, {"version": 1}).startswith("no source configured; add at least one of")
    assert error_of(tmp_path, {"version": 2, "product_events": SEGMENT}) == "version: 2 is not allowed; expected 1"
    assert error_of(tmp_path, {"product_events": "segment"}).startswith("product_events: expected a mapping")


def test_yaml_keys_that_are_numbers_match_as_text():
    config = parse_mapping({"support_tickets": {"preset": "zendesk", "input": "*",
                                                "values": {"account_id": {360001: "acc_000001", True: "acc_x"}}}})
    assert config.sources["support_tickets"].values["account_id"] == {"360001": "acc_000001", "true": "acc_x"}


def test_sections_keep_the_order_they_were_written_in():
    config = parse_mapping({"support_tickets": {"preset": "zendesk", "input": "*"}, "product_events": SEGMENT})
    assert list(config.sources) == ["support_tickets", "product_events"]


# ------------------------------------------------------------------------------------------ presets


def test_every_shipped_preset_validates():
    files = preset_files()
    assert {p.stem for p in files} == {"segment", "amplitude", "mixpanel", "salesforce", "hubspot", "zendesk",
                                       "intercom"}
    for path in files:
        preset = load_preset(path)
        contract = get_contract(preset.source)
        assert set(preset.columns) <= set(contract.names), path.name
        # every preset can be used on its own: required columns are all mapped
        config = parse_mapping({preset.source: {"preset": path.stem, "input": "*"}})
        assert config.sources[preset.source].columns == {**preset.columns}
    assert presets()["zendesk"].values["priority"]["urgent"] == "P1"


def test_event_presets_start_from_the_common_event_names():
    common = yaml.safe_load((PRESET_DIR / "_common_event_types.yaml").read_text(encoding="utf-8"))["event_types"]
    for name in ("segment", "amplitude", "mixpanel"):
        assert presets()[name].event_types == common
    assert set(common.values()) <= set(EVENT_TYPES)
    assert presets()["salesforce"].event_types == {}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"source": "crm_accounts", "columns": {"acount_id": "Id"}},
         "columns.acount_id: unknown contract column 'acount_id'"),
        ({"source": "support_tickets", "columns": {"ticket_id": "id"}, "values": {"priority": {"urgent": "P0"}}},
         "values.priority.urgent: 'P0' is not a valid priority; expected one of P1, P2, P3, P4"),
        ({"source": "crm_accounts", "columns": {}, "event_types": {"Login": "login"}},
         "event_types: only applies to product_events presets"),
        ({"source": "orders", "columns": {}}, "source: 'orders' is not allowed"),
        ({"source": "crm_accounts"}, "columns: required; set it to a mapping of contract column"),
        ({"source": "crm_accounts", "columns": {}, "colour": "blue"}, "colour: unknown key; expected one of source"),
    ],
)
def test_a_broken_preset_file_names_the_file_and_key(tmp_path: Path, doc: dict, expected: str):
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_preset(path)
    assert str(err.value).startswith(f"{path}: {expected}")
