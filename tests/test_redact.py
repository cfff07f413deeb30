import base64
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


# -- the second layer ----------------------------------------------------------------------------------------

MORE_SHAPES = {
    "stripe": "sk_live_AbCdEfGhIjKlMnOpQrStUvWx",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "google": "AIzaSyAbCdEfGhIjKlMnOpQrStUvWxYz0123456",
    "google_oauth": "ya29.a0AfH6SMBAbCdEfGhIjKlMnOpQrStUv",
    "gitlab": "glpat-AbCdEfGhIjKlMnOpQrSt",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("name", sorted(MORE_SHAPES))
def test_more_token_shapes_are_masked(name):
    out = Redactor(env={}).sub(f"value: {MORE_SHAPES[name]} end")
    assert MORE_SHAPES[name] not in out and MASK in out


def test_pem_private_keys_and_url_credentials():
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACD\n-----END OPENSSH PRIVATE KEY-----"
    r = Redactor(env={})
    assert r.sub(f"key:\n{pem}\nok") == f"key:\n{MASK}\nok"
    assert r.sub(json.dumps({"f": pem})) == json.dumps({"f": MASK})
    assert (
        r.sub("postgres://admin:s3cr3t-pass@db.internal:5432/x")
        == f"postgres://admin:{MASK}@db.internal:5432/x"
    )


@pytest.mark.parametrize(
    "text,secret",
    [
        ("password=correcthorse", "correcthorse"),
        ('{"api_key": "abcd1234efgh"}', "abcd1234efgh"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("Client-Secret: q8w7e6r5t4y3", "q8w7e6r5t4y3"),
    ],
)
def test_assignments_in_any_case(text, secret):
    out = Redactor(env={}).sub(text)
    assert secret not in out and MASK in out


def test_env_values_that_look_like_tokens_are_secrets_whatever_their_name():
    value = "Zx9kQ2mW7pL4vR8tY1nB6cD3fG5hJ0sA"
    r = Redactor(env={"MY_SERVICE": value, "RUN_NAME": "sft-run-2025-12-01", "CUDA_VISIBLE_DEVICES": "0,1"})
    assert r.sub(f"x {value} y") == f"x {MASK} y"
    assert r.sub("sft-run-2025-12-01") == "sft-run-2025-12-01"


SECRET = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456"


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s[::-1],
        lambda s: s.encode().hex(),
        lambda s: s.encode().hex().upper(),
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.b64encode(b"x" + s.encode()).decode(),  # other byte alignments
        lambda s: base64.b64encode(b"xy" + s.encode() + b"tail").decode(),
        lambda s: base64.urlsafe_b64encode(b"prefix " + s.encode()).decode(),
    ],
)
def test_known_values_are_masked_encoded(encode):
    r = Redactor(env={"HF_TOKEN": SECRET})
    shown = encode(SECRET)
    out = r.sub(f"job printed {shown} here")
    assert shown not in out and MASK in out


def test_known_values_split_across_prints_or_as_codes_or_in_pieces():
    r = Redactor(env={"HF_TOKEN": SECRET})
    split = f"{SECRET[:17]}\n{SECRET[17:]}\n"
    assert SECRET[:17] not in r.sub_deep(split) and SECRET[17:] not in r.sub_deep(split)
    spaced = " ".join(SECRET[i : i + 4] for i in range(0, len(SECRET), 4))
    assert SECRET[:4] + " " + SECRET[4:8] not in r.sub_deep(f"a {spaced} b")
    codes = str([ord(c) for c in SECRET])
    assert r.sub_deep(f"codes {codes}") == f"codes {MASK}"
    piece = SECRET[5:19]
    assert piece not in r.sub_deep(f"part {piece} end")
    assert (
        r.sub_deep("nothing secret, [1, 2, 3, 4, 5, 6, 7, 8, 9]")
        == "nothing secret, [1, 2, 3, 4, 5, 6, 7, 8, 9]"
    )


def test_secrets_added_later_are_masked():
    r = Redactor(env={})
    value = "hunter2-from-the-hub-login"
    assert r.sub(value) == value
    r.add_secrets([value])
    assert r.sub(f"x {value}") == f"x {MASK}"
    out = r.sub(base64.b64encode(value.encode()).decode())
    assert out.startswith(MASK) and len(out) <= len(MASK) + 4  # at most the last group, a byte or two
