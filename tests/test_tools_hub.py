"""search_hub (fake HfApi answering with recorded Hub JSON) and inspect_dataset on Hub datasets (recorded
dataset viewer answers — the official OpenAPI examples, which describe different datasets per endpoint)."""

from __future__ import annotations

import pytest
from research_fakes import FakeHubApi, RecordedTransport, Session, fixture_json

from intern_tui.tools.base import ToolError
from intern_tui.tools.dataset_io import parse_info, parse_size

VIEWER = r"datasets-server\.huggingface\.co/"

GSM8K = {
    "id": "openai/gsm8k",
    "downloads": 412000,
    "likes": 800,
    "lastModified": "2024-01-04T12:05:15.000Z",
    "tags": [
        "task_categories:text-generation",
        "size_categories:1K<n<10K",
        "license:mit",
        "language:en",
        "format:parquet",
        "modality:text",
        "math-word-problems",
    ],
    "gated": False,
    "private": False,
}
ORCA = {
    **GSM8K,
    "id": "microsoft/orca-math-word-problems-200k",
    "downloads": 9000,
    "tags": ["task_categories:question-answering", "size_categories:100K<n<1M", "license:mit"],
}


def session(tmp_path, **kw) -> Session:
    return Session(tmp_path / "ws", **kw)


# -- search_hub -----------------------------------------------------------------------------------


def test_search_models_parses_recorded_hub_json(tmp_path):
    api = FakeHubApi()
    s = session(tmp_path, hub_api=api)
    out = s.call("search_hub", "exaone gguf", kind="model", limit=3, sort="trending")
    assert [m["id"] for m in out] == [
        "LGAI-EXAONE/EXAONE-4.0-32B-GGUF",
        "LGAI-EXAONE/EXAONE-4.5-33B-GGUF",
        "lmstudio-community/EXAONE-3.5-7.8B-Instruct-GGUF",
    ]
    assert out[0]["downloads"] == 81725 and out[0]["license"] == "other"
    assert out[0]["task"] == "text-generation" and out[0]["base_model"] == "LGAI-EXAONE/EXAONE-4.0-32B"
    name, kwargs = api.calls[0]
    assert name == "list_models" and kwargs["search"] == "exaone gguf" and kwargs["sort"] == "trending_score"
    assert kwargs["limit"] == 3 and "downloads" in kwargs["expand"]
    assert s.kinds() == ["tool_call", "tool_result"]


def test_exact_model_id_is_looked_up_first(tmp_path):
    api = FakeHubApi()
    s = session(tmp_path, hub_api=api)
    out = s.call("search_hub", "google-bert/bert-base-uncased", kind="model", limit=2)
    top = out[0]
    assert top["exact_match"] is True and top["id"] == "google-bert/bert-base-uncased"
    assert top["params"] == "110M" and top["license"] == "apache-2.0" and top["likes"] == 2065
    assert (
        top["task"] == "fill-mask"
        and top["library"] == "transformers"
        and top["last_modified"] == "2024-02-19"
    )
    assert "exbert" in top["tags"]
    assert len(out) == 2 and api.names() == ["model_info", "list_models"]


def test_search_datasets_reads_task_size_and_license_from_tags(tmp_path):
    api = FakeHubApi(datasets=[GSM8K, ORCA])
    s = session(tmp_path, hub_api=api)
    out = s.call("search_hub", "math word problems")
    assert out[0] == {
        "id": "openai/gsm8k",
        "downloads": 412000,
        "likes": 800,
        "last_modified": "2024-01-04",
        "task": ["text-generation"],
        "size": "1K<n<10K",
        "license": "mit",
        "language": ["en"],
        "format": ["parquet"],
    }
    assert out[1]["size"] == "100K<n<1M"
    assert api.calls[0][1]["sort"] == "downloads"


def test_missing_exact_id_still_searches(tmp_path):
    api = FakeHubApi(datasets=[GSM8K])
    s = session(tmp_path, hub_api=api)
    out = s.call("search_hub", "nobody/nothing")
    assert [d["id"] for d in out] == ["openai/gsm8k"] and api.names() == ["dataset_info", "list_datasets"]


def test_search_hub_argument_errors(tmp_path):
    s = session(tmp_path, hub_api=FakeHubApi())
    with pytest.raises(ToolError, match="kind must be 'dataset' or 'model'"):
        s.call("search_hub", "x", kind="space")
    with pytest.raises(ToolError, match="sort must be one of"):
        s.call("search_hub", "x", sort="random")


def test_search_hub_offline_with_the_real_client(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = session(tmp_path)  # no hub_api: the real HfApi, which refuses at once in offline mode
    with pytest.raises(ToolError, match=r"cannot reach huggingface\.co \(offline\?\) — try again later"):
        s.call("search_hub", "gsm8k")
    assert s.ctx.hub_api is not None and type(s.ctx.hub_api).__name__ == "HfApi"


# -- inspect_dataset on the Hub -----------------------------------------------------------------------


def viewer(
    t: RecordedTransport, first_rows: str = "datasets_server_first_rows.docexample.json"
) -> RecordedTransport:
    t.add(VIEWER + r"is-valid\?", "datasets_server_is_valid.docexample.json")
    t.add(VIEWER + r"splits\?", "datasets_server_splits.docexample.json")
    t.add(VIEWER + r"info\?", "datasets_server_info_config.docexample.json")
    t.add(VIEWER + r"size\?", "datasets_server_size.docexample.json")
    t.add(VIEWER + r"first-rows\?", first_rows)
    t.add(VIEWER + r"rows\?", "datasets_server_rows.docexample.json")
    return t


def test_inspect_hub_dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    t = viewer(RecordedTransport())
    s = session(tmp_path, transport=t, hub_api=FakeHubApi(token=None))
    out = s.call("inspect_dataset", "ibm/duorc", n=2)
    assert out["config"] == "ParaphraseRC" and out["configs"] == ["ParaphraseRC", "SelfRC"]
    assert out["features"] == {"text": "string", "label": "class_label[neg,pos]"}
    assert out["columns"] == {"text": "text", "label": "number"}
    assert len(out["sample"]) == 2 and out["sample"][0]["text"].endswith("chars]")
    assert out["quality"]["duplicate_rows"] == 0 and out["quality"]["lengths_chars"]["text"]["min"] > 100
    assert out["fits"] == ["SFT"] and out["trainers"]["sft"]["as"] == "language modeling: text"
    assert "prompt" in out["trainers"]["grpo"]["convert"]
    assert any("dataset viewer, not the whole split" in n for n in out["notes"])
    assert [u.split("/")[3].split("?")[0] for u in t.urls()] == [
        "is-valid",
        "splits",
        "info",
        "size",
        "first-rows",
    ]
    assert "config=ParaphraseRC" in t.urls("first-rows")[0] and "split=train" in t.urls("first-rows")[0]
    assert "Authorization" not in t.requests[0].headers


def test_inspect_hub_dataset_sends_the_token_to_the_viewer(tmp_path):
    t = viewer(RecordedTransport())
    s = session(tmp_path, transport=t, hub_api=FakeHubApi(token="hf-token-for-gated-data"))
    s.call("inspect_dataset", "ibm/duorc")
    assert all(r.headers.get("Authorization") == "Bearer hf-token-for-gated-data" for r in t.requests)


def test_rows_from_an_offset(tmp_path):
    t = viewer(RecordedTransport())
    s = session(tmp_path, transport=t, hub_api=FakeHubApi())
    out = s.call("inspect_dataset", "ibm/duorc", offset=234, n=1)
    assert "offset=234" in t.urls("/rows")[0] and not t.urls("first-rows")
    assert out["sample"][0]["text"].startswith("Well, you know the rest!")
    assert any("rows 234-236" in n for n in out["notes"])


def test_truncated_cells_and_list_features(tmp_path):
    t = viewer(RecordedTransport(), "datasets_server_first_rows_truncated.docexample.json")
    s = session(tmp_path, transport=t, hub_api=FakeHubApi())
    out = s.call("inspect_dataset", "ibm/duorc", n=1)
    assert out["features"]["feat_dynamic_real"] == "list[list[float32]]"
    assert out["features"]["start"] == "timestamp[s]"
    assert any("truncated long cells in feat_dynamic_real, target" in n for n in out["notes"])
    assert out["fits"] == [] and out["issues"][0].startswith("no trainer takes these columns as they are")


def test_image_cells_are_summarised(tmp_path):
    t = viewer(RecordedTransport(), "datasets_server_first_rows_image.docexample.json")
    s = session(tmp_path, transport=t, hub_api=FakeHubApi())
    out = s.call("inspect_dataset", "ibm/duorc", n=1)
    assert out["sample"][0] == {"imageA": "<image 256x256>", "imageB": "<image 256x256>"}
    assert out["columns"] == {"imageA": "image", "imageB": "image"} and out["features"]["imageA"] == "image"
    assert "Signature" not in str(out["sample"])


def test_missing_split_lists_what_exists(tmp_path):
    s = session(tmp_path, transport=viewer(RecordedTransport()), hub_api=FakeHubApi())
    with pytest.raises(ToolError, match=r"no split 'dev'.*ParaphraseRC/train, ParaphraseRC/validation"):
        s.call("inspect_dataset", "ibm/duorc", split="dev")


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        (
            "datasets_server_error_dataset_404.docexample.json",
            404,
            r"dataset 'nobody/missing' not found on the Hub, or private/gated",
        ),
        ("datasets_server_error_not_ready.docexample.json", 500, r"busier than usual.*retry in a minute"),
        (
            "datasets_server_error_splits_500.docexample.json",
            500,
            r"cannot read 'nobody/missing': The dataset is empty\. \(EmptyDatasetError: The directory",
        ),
    ],
)
def test_viewer_errors_become_actionable_lines(tmp_path, fixture, status, message):
    t = RecordedTransport().add(VIEWER + r"is-valid\?", "datasets_server_is_valid.docexample.json")
    t.add(VIEWER, fixture, status=status)
    s = session(tmp_path, transport=t, hub_api=FakeHubApi())
    with pytest.raises(ToolError, match=message) as err:
        s.call("inspect_dataset", "nobody/missing")
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)


def test_not_previewable_dataset(tmp_path):
    t = RecordedTransport().add(
        VIEWER + r"is-valid\?", body='{"preview": false, "viewer": false, "search": false}'
    )
    s = session(tmp_path, transport=t, hub_api=FakeHubApi())
    with pytest.raises(ToolError, match="has no preview"):
        s.call("inspect_dataset", "some/scripted-dataset")


def test_file_like_ids_point_to_local(tmp_path):
    s = session(tmp_path, hub_api=FakeHubApi())
    with pytest.raises(ToolError, match="use 'local:data/train.jsonl'"):
        s.call("inspect_dataset", "data/train.jsonl")


def test_info_parser_reads_both_shapes():
    whole = parse_info(fixture_json("datasets_server_info.docexample.json"), "mnist")
    assert whole["features"] == {"image": "image", "label": "class_label[0,1,2,3,4,5,…]"}
    assert whole["splits"] == {"train": 60000, "test": 10000}
    one = parse_info(fixture_json("datasets_server_info_config.docexample.json"), "ax")
    assert one["config"] == "ax" and one["splits"] == {"test": 1104} and one["features"]["idx"] == "int32"
    size = parse_size(fixture_json("datasets_server_size.docexample.json"), "mnist")
    assert size["splits"] == {"train": 60000, "test": 10000} and size["parquet_bytes"] == 18157506


def test_hub_errors_become_one_line():
    from research_fakes import hub_error

    from intern_tui.tools.hub import hub_call

    def raising(exc):
        def fn():
            raise exc

        return fn

    assert hub_call(raising(hub_error("RepositoryNotFoundError", 404)), not_found_ok=True) is None
    cases = [
        (hub_error("GatedRepoError", 403), "the repo is gated"),
        (hub_error("HfHubHTTPError", 401), r"HTTP 401\): check that HF_TOKEN is valid"),
        (hub_error("HfHubHTTPError", 429), "rate-limiting"),
        (hub_error("HfHubHTTPError", 500), "Hub request failed: 500 error for"),
        (ConnectionError("Name or service not known"), r"cannot reach huggingface\.co \(offline\?\)"),
    ]
    for exc, message in cases:
        with pytest.raises(ToolError, match=message):
            hub_call(raising(exc), not_found_ok=True)
