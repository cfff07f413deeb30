import json

import pytest

from intern_tui.redact import MASK, Redactor

SECRETS = {
    "hf": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv_wx-yz",
    "openai": "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx",
    "github": "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "aws": "AKIAIOSFODNN7EXAMPLE",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_token_shapes_are_masked(name):
    r = Redactor(env={})
    text = f"the key is {SECRETS[name]} ok"
    out = r.sub(text)
    assert SECRETS[name] not in out
    assert out == f"the key is {MASK} ok"


def test_bearer_header_keeps_the_scheme():
    out = Redactor(env={}).sub('curl -H "Authorization: Bearer abc.def-ghi_jkl"')
    assert "abc.def-ghi_jkl" not in out
    assert f"Bearer {MASK}" in out


@pytest.mark.parametrize(
    "text,secret",
    [
        ("HF_TOKEN=plainvalue123", "plainvalue123"),
        ("export WANDB_API_KEY='0123456789abcdef'", "0123456789abcdef"),
        ('AWS_SECRET = "wJalrXUtnFEMI/K7MDENG"', "wJalrXUtnFEMI/K7MDENG"),
        ("DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
        ("PASSWORD: opensesame", "opensesame"),
    ],
)
def test_assignments_keep_the_name(text, secret):
    out = Redactor(env={}).sub(text)
    assert secret not in out
    assert MASK in out
    name = text.split(secret)[0]
    assert out == name + MASK + text.split(secret)[1]


@pytest.mark.parametrize(
    "text",
    [
        "tokenizer.pad_token = tokenizer.eos_token",
        "max_new_tokens=256, num_train_epochs=3",
        'token = os.environ["HF_TOKEN"]',
        "HF_TOKEN=$HF_TOKEN python train.py",
        "from huggingface_hub import hf_hub_download",
        "skip-connections and sk-learn",
    ],
)
def test_ordinary_code_is_left_alone(text):
    assert Redactor(env={}).sub(text) == text


def test_environment_values_are_masked_even_without_a_known_shape():
    r = Redactor(env={"MY_SERVICE_TOKEN": "zz-custom-value-99", "HOME": "/root", "SHORT_KEY": "abc"})
    assert r.sub("got zz-custom-value-99 back") == f"got {MASK} back"
    assert r.sub("home is /root") == "home is /root"
    assert r.sub("abc") == "abc"  # too short to be a secret worth masking everywhere


def test_redaction_inside_json_keeps_it_valid():
    r = Redactor(env={"ODD_SECRET": 'quote"and\\slash-123'})
    payload = {
        "code": 'HF_TOKEN="hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345"\nprint(1)',
        "v": 'quote"and\\slash-123',
    }
    text = json.dumps(payload)
    out = r.sub(text)
    loaded = json.loads(out)
    assert "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345" not in out
    assert 'quote"and' not in loaded["v"] and loaded["v"] == MASK


def test_scrub_walks_structures():
    r = Redactor(env={})
    out = r.scrub({"a": [SECRETS["hf"], {"b": SECRETS["aws"]}], "n": 3})
    assert out == {"a": [MASK, {"b": MASK}], "n": 3}
